//! A sandboxed evaluator: runs untrusted snippets with every capability
//! off and every limit set, and reports each one's result or error
//! without the host ever crashing or hanging. Run with
//! `cargo run --example sandboxed_eval`.

/// Snippets as a user might send them: some fine, some hostile.
const SNIPPETS: &[&str] = &[
    "[1, 2, 3].map(fn(x) => x * x)",
    "while true {}",
    "let caught = 0\nwhile true { try { while true {} } catch e { caught += 1 } }",
    "let xs = []\nwhile true { xs.push([xs.len(), xs.len()]) }",
    "fn f(n) { return f(n + 1) }\nf(0)",
    "for i in 0..1000000 { spawn sleep(1) }",
    "read_file(\"/etc/passwd\")",
    "spawn_process(\"rm\", [\"-rf\", \"/\"])",
    "\"still \" + \"works\"",
];

pub fn main() -> Result<(), weft::Error> {
    for snippet in SNIPPETS {
        // A fresh VM per snippet: nothing one leaves behind reaches the next.
        let mut vm = weft::Vm::builder()
            .sandbox()
            .max_heap(16 << 20)
            .max_instructions(1_000_000)
            .max_call_depth(200)
            .max_tasks(100)
            .virtual_time(true)
            .seed(1)
            .build()?;
        let first_line = snippet.lines().next().unwrap_or_default();
        match vm.eval::<weft::Value>(snippet) {
            Ok(v) => {
                vm.set_global("result", v)?;
                println!("ok     {first_line}  =>  {}", vm.eval::<String>("str(result)")?);
            }
            Err(e) => println!("error  {first_line}  =>  {}", e.kind()),
        }
    }
    Ok(())
}
