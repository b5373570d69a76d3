//! A job server: two host threads submit jobs; a script serves them with
//! a pool of worker tasks, each taking the next job through a blocking
//! host function (which parks only its task) and looking up data through
//! another; results come back to the host through a native that sends on
//! a Rust channel. Run with `cargo run --example job_server`.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WORKERS: &str = r#"
fn serve(workers) {
    nursery {
        for w in 0..workers {
            spawn {
                let job = next_job()
                while job != nil {
                    let price = lookup(job[1])
                    deliver(job[0], job[1], price * job[2])
                    job = next_job()
                }
            }
        }
    }
}
"#;

/// A job as the host submits it.
struct Job {
    id: i64,
    item: String,
    quantity: i64,
}

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (jobs_in, jobs) = mpsc::channel::<Job>();
    let jobs = Arc::new(Mutex::new(jobs));
    let (done, results) = mpsc::channel::<(i64, String, i64)>();

    let mut vm = weft::Vm::builder().pool_threads(8).build()?;
    // Blocks on the pool until a job comes (nil once every submitter is done).
    vm.register_blocking("next_job", move || {
        let job = jobs.lock().map_err(|_| "the job queue is poisoned".to_string())?.recv().ok();
        // A job is the list [id, item, quantity].
        Ok::<_, String>(job.map(|j| (j.id, j.item, j.quantity)))
    });
    // A slow service the workers call: its waits overlap.
    vm.register_blocking("lookup", |item: String| {
        std::thread::sleep(Duration::from_millis(20));
        item.len() as i64 * 100
    });
    vm.register("deliver", move |id: i64, item: String, cents: i64| {
        done.send((id, item, cents)).map_err(|e| e.to_string())
    });
    vm.exec(WORKERS)?;

    // Two submitters on their own threads.
    let submitters: Vec<_> = (0..2)
        .map(|t| {
            let jobs_in = jobs_in.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let item = ["pen", "lamp", "teapot"][(i % 3) as usize].to_string();
                    jobs_in.send(Job { id: t * 100 + i, item, quantity: 1 + i % 3 }).expect("the server runs");
                }
            })
        })
        .collect();
    drop(jobs_in);
    let server = std::thread::spawn(move || vm.call::<()>("serve", (4,)));
    for s in submitters {
        s.join().expect("a submitter finished");
    }
    server.join().expect("the server finished")?;

    let mut all: Vec<_> = results.try_iter().collect();
    all.sort();
    let total: i64 = all.iter().map(|(_, _, cents)| cents).sum();
    println!("{} jobs served, {} cents in all", all.len(), total);
    for (id, item, cents) in all.iter().take(3) {
        println!("job {id}: {item} = {cents}");
    }
    Ok(())
}
