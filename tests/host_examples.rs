//! Runs the Rust host programs of `examples/` (the cargo examples), so
//! they stay compiling and working: each `main` must return `Ok`.

#[path = "../examples/job_server.rs"]
mod job_server;
#[path = "../examples/plugin_host.rs"]
mod plugin_host;
#[path = "../examples/sandboxed_eval.rs"]
mod sandboxed_eval;

#[test]
fn the_job_server_serves_every_job() {
    job_server::main().expect("the job server runs");
}

#[test]
fn the_plugin_host_makes_ten_thousand_calls() {
    plugin_host::main().expect("the plugin host runs");
}

#[test]
fn the_sandboxed_evaluator_survives_every_snippet() {
    sandboxed_eval::main().expect("the evaluator runs");
}
