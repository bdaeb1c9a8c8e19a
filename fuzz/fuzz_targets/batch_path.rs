//! The whole batch path: the host hands any bytes to the real validator
//! component and checks its answer. The real validator must never trap, time
//! out or break the contract: any bytes give verdicts or a file-level error.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use presend_host::{BatchOptions, Error, Runtime, Validator};

fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let runtime = Runtime::new().expect("runtime");
        Validator::embedded(&runtime).expect("the embedded validator loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let validator = validator();
    let options = BatchOptions {
        rules: validator.default_rules().clone(),
        now: 1_795_770_000,
        history: None,
    };
    match validator.validate(data, &options) {
        Ok(report) => assert_eq!(report.summary.total, report.patients.len()),
        Err(Error::File { .. }) => {}
        Err(e) => panic!("the real validator failed on a file: {e}"),
    }
});
