//! A counting global allocator for the idle-memory measurements (`tests/idle_memory.rs`,
//! `tests/deflate_idle_memory.rs`, `examples/idle_memory.rs`, each including this file by
//! path): it forwards to `System` and keeps the live heap size in [`LIVE`], so a measurement
//! is the growth of [`live`] across N idle connections divided by N.
// A global allocator needs `unsafe impl GlobalAlloc`; this one only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

/// Bytes currently allocated through the global allocator.
pub static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The live heap size now.
pub fn live() -> isize {
    LIVE.load(Ordering::SeqCst)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;
