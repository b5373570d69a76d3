//! A job server: two host threads submit jobs through a host channel; a
//! script serves them with a pool of worker tasks, each looking up data
//! through a blocking host function (which parks only its task); results
//! come back through a second host channel, read by a host thread. Run
//! with `cargo run --example job_server`.

use std::time::Duration;

const WORKERS: &str = r#"
fn serve(workers) {
    nursery {
        for w in 0..workers {
            spawn {
                # Ends when the host has dropped every end of `jobs` and
                # the queue is drained.
                for job in jobs {
                    let [id, item, quantity] = job
                    results.send([id, item, lookup(item) * quantity])
                }
            }
        }
    }
    results.close()
}
"#;

/// A job as the host submits it: id, item, quantity.
type Job = (i64, String, i64);

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut vm = weft::Vm::builder().pool_threads(8).build()?;
    // A slow service the workers call: its waits overlap.
    vm.register_blocking("lookup", |item: String| {
        std::thread::sleep(Duration::from_millis(20));
        item.len() as i64 * 100
    });
    let (jobs, script_jobs) = vm.channel::<Job>(8);
    let (results, script_results) = vm.channel::<(i64, String, i64)>(8);
    vm.set_global("jobs", script_jobs)?;
    vm.set_global("results", script_results)?;
    vm.exec(WORKERS)?;

    // Two submitters on their own threads; each holds a clone of the
    // host end, and the channel closes when the last is dropped.
    let submitters: Vec<_> = (0..2)
        .map(|t| {
            let jobs = jobs.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let item = ["pen", "lamp", "teapot"][(i % 3) as usize].to_string();
                    jobs.send((t * 100 + i, item, 1 + i % 3)).expect("the server runs");
                }
            })
        })
        .collect();
    drop(jobs);
    // A collector reads results until the script closes the channel.
    let collector = std::thread::spawn(move || {
        let mut all = Vec::new();
        while let Ok(result) = results.recv() {
            all.push(result);
        }
        all
    });
    vm.call::<()>("serve", (4,))?;
    for s in submitters {
        s.join().expect("a submitter finished");
    }
    let mut all = collector.join().expect("the collector finished");
    all.sort();
    assert_eq!(all.len(), 20, "every job is served once");
    let total: i64 = all.iter().map(|(_, _, cents)| cents).sum();
    println!("{} jobs served, {} cents in all", all.len(), total);
    for (id, item, cents) in all.iter().take(3) {
        println!("job {id}: {item} = {cents}");
    }
    Ok(())
}
