//! A plugin host: one VM, loaded once, serving many calls of a script
//! function with typed arguments, as a long-lived program embedding
//! scripts as rules would. Run with `cargo run --example plugin_host`.

use std::collections::HashMap;

/// The plugin: a pricing rule a user could edit without rebuilding the
/// host.
const PLUGIN: &str = r#"
let rates = ["book": 0.0, "food": 0.05, "tool": 0.2]

fn price(kind, cents, quantity) {
    let rate = rates.get(kind, 0.1)
    let total = cents * quantity
    if quantity >= 10 { total = int(total * 0.9) }
    return total + int(total * rate)
}
"#;

pub fn main() -> Result<(), weft::Error> {
    let mut vm = weft::Vm::builder().max_instructions(1_000_000).build()?;
    vm.exec(PLUGIN)?;
    // Keep the function: no name lookup per call, and valid across every
    // collection the calls cause.
    let price: weft::Function = vm.get_global("price")?;
    let kinds = ["book", "food", "tool", "toy"];
    let mut totals: HashMap<&str, i64> = HashMap::new();
    for i in 0..10_000_i64 {
        let kind = kinds[(i % 4) as usize];
        let cents: i64 = vm.call(&price, (kind, 100 + i % 7, 1 + i % 12))?;
        *totals.entry(kind).or_default() += cents;
    }
    let mut kinds_sorted: Vec<_> = totals.into_iter().collect();
    kinds_sorted.sort();
    for (kind, cents) in kinds_sorted {
        println!("{kind}: {cents}");
    }
    Ok(())
}
