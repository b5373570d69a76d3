//! Files and folders: every call runs on the blocking-work pool, so a
//! slow disk stops only the task that asked. `open` gives a stream.

use super::os_reason;
use super::stream::{End, Shared, Stream};
use std::path::Path;
use weft_vm::{Ctx, Finisher, NativeResult, Throw, Value, Vm};

/// Runs `job` on `path` on the pool, after the fs capability check; its
/// error becomes `IOError: cannot VERB "PATH": REASON`, its result the
/// native's through `done`.
fn on_pool<T: Send + 'static>(
    cx: &mut Ctx,
    verb: &'static str,
    path: String,
    job: impl FnOnce(&Path) -> std::io::Result<T> + Send + 'static,
    done: fn(&mut Ctx, T) -> NativeResult,
) -> NativeResult {
    let who = cx.name().to_string();
    cx.capabilities().check_fs(&who, Path::new(&path))?;
    let label = format!("{who} of {path:?}");
    cx.blocking(&label, vec![], move || -> Finisher {
        let result = job(Path::new(&path));
        Box::new(move |cx, _| match result {
            Ok(v) => done(cx, v),
            Err(e) => Err(Throw::new("IOError", format!("cannot {verb} {path:?}: {}", os_reason(&e))).into()),
        })
    })
}

fn text_of(cx: &mut Ctx, bytes: Vec<u8>, path: &str) -> NativeResult {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(cx.string(&text)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            Err(Throw::new("IOError", format!("invalid UTF-8 in file {path:?} at byte {at}")).into())
        }
    }
}

fn read_file(cx: &mut Ctx, path: String) -> NativeResult {
    let shown = path.clone();
    on_pool(cx, "read", path, |p| std::fs::read(p).map(|b| (b, shown)), |cx, (bytes, path)| text_of(cx, bytes, &path))
}

fn read_lines(cx: &mut Ctx, path: String) -> NativeResult {
    let shown = path.clone();
    on_pool(
        cx,
        "read",
        path,
        |p| std::fs::read(p).map(|b| (b, shown)),
        |cx, (bytes, path)| {
            let text = text_of(cx, bytes, &path)?;
            let Value::Str(r) = text else { return Ok(Value::Nil) };
            let lines: Vec<String> = cx.heap().str(r).lines().map(str::to_string).collect();
            cx.check_room(lines.len() * 32, "the list of lines")?;
            let items = lines.iter().map(|l| cx.string(l)).collect();
            Ok(cx.new_list(items))
        },
    )
}

fn write_with(cx: &mut Ctx, path: String, text: String, append: bool) -> NativeResult {
    on_pool(
        cx,
        "write",
        path,
        move |p| {
            use std::io::Write;
            let mut file =
                std::fs::OpenOptions::new().write(true).create(true).append(append).truncate(!append).open(p)?;
            file.write_all(text.as_bytes())
        },
        |_, ()| Ok(Value::Nil),
    )
}

fn list_dir(cx: &mut Ctx, path: String) -> NativeResult {
    on_pool(
        cx,
        "list",
        path,
        |p| {
            let mut names = Vec::new();
            for entry in std::fs::read_dir(p)? {
                names.push(entry?.file_name().to_string_lossy().into_owned());
            }
            names.sort();
            Ok(names)
        },
        |cx, names| {
            cx.check_room(names.len() * 32, "the list of names")?;
            let items = names.iter().map(|n| cx.string(n)).collect();
            Ok(cx.new_list(items))
        },
    )
}

fn exists(cx: &mut Ctx, path: String) -> NativeResult {
    on_pool(cx, "look at", path, |p| Ok(p.exists()), |_, found| Ok(Value::Bool(found)))
}

fn remove(cx: &mut Ctx, path: String) -> NativeResult {
    on_pool(
        cx,
        "remove",
        path,
        |p| match std::fs::symlink_metadata(p)?.is_dir() {
            true => std::fs::remove_dir(p),
            false => std::fs::remove_file(p),
        },
        |_, ()| Ok(Value::Nil),
    )
}

fn mkdir(cx: &mut Ctx, path: String) -> NativeResult {
    on_pool(cx, "make the folder", path, |p| std::fs::create_dir_all(p), |_, ()| Ok(Value::Nil))
}

fn open(cx: &mut Ctx, path: String, mode: Option<String>) -> NativeResult {
    let mode = mode.unwrap_or_else(|| "r".to_string());
    let mut options = std::fs::OpenOptions::new();
    match mode.as_str() {
        "r" => options.read(true),
        "w" => options.write(true).create(true).truncate(true),
        "a" => options.append(true).create(true),
        _ => return Err(Throw::value_error(format!("open: mode {mode:?} is not \"r\", \"w\" or \"a\"")).into()),
    };
    let shown = path.clone();
    on_pool(
        cx,
        "open",
        path,
        move |p| options.open(p).map(|f| (f, shown)),
        |cx, (file, path)| {
            let end = End::Blocking(Shared::new(Box::new(file)), None);
            cx.new_object(Stream::new(format!("file {:?}", path), end)).map_err(Into::into)
        },
    )
}

pub fn install(vm: &mut Vm) {
    vm.register("read_file", read_file);
    vm.register("read_lines", read_lines);
    vm.register("write_file", |cx: &mut Ctx, path: String, text: String| write_with(cx, path, text, false));
    vm.register("append_file", |cx: &mut Ctx, path: String, text: String| write_with(cx, path, text, true));
    vm.register("list_dir", list_dir);
    vm.register("exists", exists);
    vm.register("remove", remove);
    vm.register("mkdir", mkdir);
    vm.register("open", open);
}
