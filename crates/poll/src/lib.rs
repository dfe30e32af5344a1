//! Short and long polling: a sequence-numbered message log with epoch cursors and cheap waiters. (under construction).
#![deny(missing_docs)]
