//! Integration tests: the real validator component, run through the real host.

mod browser;
mod cli;
mod common;
mod deliveries;
mod deploy;
mod embedder;
mod failures;
mod files;
mod golden;
mod history;
mod history_stores;
mod hostile;
mod hostile_files;
mod isolation;
mod layers;
mod native;
mod pg_cluster;
mod postgres;
mod receipts;
mod regression;
mod review;
mod serve;
mod serve_limits;
mod streaming;
mod verdicts;
