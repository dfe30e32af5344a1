//! techniques
use crate::Error;
use crate::compare::Binaries;
/// Options.
#[derive(Debug, Clone)]
pub struct Techniques {
    /// Clients per technique.
    pub clients: usize,
    /// Seconds of the stream.
    pub seconds: f64,
    /// Messages per second.
    pub rate: f64,
}
/// Row.
#[derive(Debug, Clone)]
pub struct Row;
/// Run.
pub async fn run_all(_b: &Binaries, _o: &Techniques) -> Result<Vec<Row>, Error> {
    Ok(vec![])
}
/// md.
pub fn markdown(_o: &Techniques, _r: &[Row]) -> String {
    String::new()
}
/// svg.
pub fn svg(_o: &Techniques, _r: &[Row]) -> String {
    String::new()
}
