//! Writes the benchmarks' data set to a directory, for a profiler: the
//! same seed and the same steps as `host/benches/validate.rs`, so
//! `examples/repeat.rs` under `perf` or callgrind judges the very file and
//! history the bench times.
//!
//!     cargo run --release --example bench_data -- /tmp/presend-data
//!
//! Writes `patients.csv` (100,000 rows), `history.db` (SQLite, 1,000,000
//! attempts over 200,000 numbers) and `history.csv` (the same attempts).
//! `host/benches/instructions.sh` uses it.

#[path = "../host/benches/support/data.rs"]
#[allow(dead_code)]
mod data;

use std::path::PathBuf;

use presend_host::history::{HistoryStore, SqliteHistory};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: bench_data DIRECTORY (made if missing)")?,
    );
    std::fs::create_dir_all(&dir)?;
    // The bench's seed, drawn from in the bench's order.
    let mut rng = fastrand::Rng::with_seed(20_261_127);
    let patients = data::patient_file_of(&mut rng, data::PATIENTS);
    let _small = data::patient_file_of(&mut rng, 10);
    let records = data::history(&mut rng);
    std::fs::write(dir.join("patients.csv"), patients)?;
    data::write_history_csv(&dir.join("history.csv"), &records);
    let db = dir.join("history.db");
    if db.exists() {
        std::fs::remove_file(&db)?;
    }
    SqliteHistory::create(&db)?.import(&records)?;
    println!("wrote {}", dir.display());
    Ok(())
}
