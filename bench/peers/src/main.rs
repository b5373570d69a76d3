//! Runs one benchmark twin in an embedded interpreter: Luau (through mlua),
//! Rhai or Rune. `weft-bench-peers ENGINE SCRIPT [ARGS...]` runs the script
//! with the arguments, lets it print its result to stdout, and exits with
//! status 1 and a message on stderr if it fails to compile or run.
//!
//! Each engine gets the arguments the way its own scripts usually see them:
//! Luau as the `arg` table of the `lua` command line (so the Lua twins run
//! unchanged), Rhai as an `ARGS` array of strings in the script's scope, and
//! Rune as the argument of the script's `main` function.

use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let (Some(engine), Some(script)) = (argv.next(), argv.next()) else {
        eprintln!("usage: weft-bench-peers luau|rhai|rune SCRIPT [ARGS...]");
        return ExitCode::from(2);
    };
    let args: Vec<String> = argv.collect();
    let source = match std::fs::read_to_string(&script) {
        Ok(source) => source,
        Err(err) => {
            eprintln!("cannot read {script}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match engine.as_str() {
        "luau" => run_luau(&script, &source, &args),
        "rhai" => run_rhai(&source, &args),
        "rune" => run_rune(&script, &source, args),
        other => Err(format!("unknown engine {other:?}: expected luau, rhai or rune")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{script}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Luau with its safe standard library and the default compiler settings
/// (optimisation level 1, as the `luau` command line uses).
fn run_luau(script: &str, source: &str, args: &[String]) -> Result<(), String> {
    let lua = mlua::Lua::new();
    let arg = lua.create_table().map_err(|e| e.to_string())?;
    arg.raw_set(0, script).map_err(|e| e.to_string())?;
    for (i, a) in args.iter().enumerate() {
        arg.raw_set(i + 1, a.as_str()).map_err(|e| e.to_string())?;
    }
    lua.globals().set("arg", arg).map_err(|e| e.to_string())?;
    lua.load(source).set_name(format!("@{script}")).exec().map_err(|e| e.to_string())
}

/// Rhai's default engine: its standard packages, `print` to stdout and its
/// default safety limits.
fn run_rhai(source: &str, args: &[String]) -> Result<(), String> {
    let engine = rhai::Engine::new();
    let mut scope = rhai::Scope::new();
    let args: rhai::Array = args.iter().map(|a| rhai::Dynamic::from(a.clone())).collect();
    scope.push_constant("ARGS", args);
    engine.run_with_scope(&mut scope, source).map_err(|e| e.to_string())
}

/// Rune with its default modules (`println` writes to stdout); the script's
/// `main(args)` is called with the arguments as a vector of strings.
fn run_rune(script: &str, source: &str, args: Vec<String>) -> Result<(), String> {
    use rune::termcolor::{ColorChoice, StandardStream};

    let context = rune::Context::with_default_modules().map_err(|e| e.to_string())?;
    let runtime = Arc::new(context.runtime().map_err(|e| e.to_string())?);
    let mut sources = rune::Sources::new();
    let file = rune::Source::new(script, source).map_err(|e| e.to_string())?;
    sources.insert(file).map_err(|e| e.to_string())?;
    let mut diagnostics = rune::Diagnostics::new();
    let unit = rune::prepare(&mut sources).with_context(&context).with_diagnostics(&mut diagnostics).build();
    if !diagnostics.is_empty() {
        let mut stderr = StandardStream::stderr(ColorChoice::Never);
        diagnostics.emit(&mut stderr, &sources).map_err(|e| e.to_string())?;
    }
    let unit = unit.map_err(|e| e.to_string())?;
    let mut vm = rune::Vm::new(runtime, Arc::new(unit));
    vm.call(["main"], (args,)).map_err(|e| e.to_string())?;
    Ok(())
}
