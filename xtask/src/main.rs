//! `cargo xtask test`: the one command that takes a machine with only Rust on it to a
//! passing suite. Some end-to-end tests drive real programs (Chromium through chromedriver,
//! coturn, an independent WebRTC stack in Python); this installs them when they are missing
//! and the machine lets it (root and apt-get), or says exactly what to install, then runs
//! `cargo test --workspace` on SQLite and, when asked, on PostgreSQL.
//!
//! Nothing here is clever on purpose: each step prints what it does, so a failure on a new
//! machine reads as the list of what that machine lacked.

use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, ExitCode};
use std::time::Duration;

/// Debian packages the end-to-end tests drive, by the file each one must provide.
const SYSTEM_PACKAGES: &[(&str, &str)] = &[
    ("/usr/bin/chromium", "chromium"),
    ("/usr/bin/chromedriver", "chromium-driver"),
    ("/usr/bin/turnserver", "coturn"),
    // The Redis cluster tests use the local Redis and restart one of their own.
    ("/usr/bin/redis-server", "redis-server"),
];

/// Python modules of the interop tests, pinned so a new release cannot change what CI runs.
const PYTHON_MODULES: &[(&str, &str)] = &[
    // tests/tests/interop.rs: an independent WebRTC stack with its own codec numbering.
    ("aiortc", "aiortc==1.16.0"),
];

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => match test(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!(
                "usage: cargo xtask test [--postgres | --all-backends] [-- <cargo test arguments>]\n\
                 \n\
                 Installs what the end-to-end tests drive when it is missing (chromium,\n\
                 chromium-driver, coturn, redis-server, the Python interop client), starts\n\
                 Redis on 127.0.0.1:6379 when it is not running, then runs\n\
                 `cargo test --workspace`: on SQLite by default, on PostgreSQL with --postgres\n\
                 (TEST_DATABASE_URL, default {DEFAULT_PG}), on both with --all-backends."
            );
            ExitCode::from(2)
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Backends {
    Sqlite,
    Postgres,
    Both,
}

fn test(args: &[String]) -> Result<(), String> {
    let (ours, passthrough) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let mut backends = Backends::Sqlite;
    for a in ours {
        backends = match a.as_str() {
            "--postgres" => Backends::Postgres,
            "--all-backends" => Backends::Both,
            other => return Err(format!("unknown option {other}")),
        };
    }

    ensure_system_packages()?;
    ensure_python_modules()?;
    let pg_url = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.into());
    if backends != Backends::Sqlite {
        ensure_postgres(&pg_url)?;
    }
    // The cluster tests talk to a Redis at 127.0.0.1:6379 (or REDIS_URL): started here
    // when it is not running.
    if std::env::var_os("REDIS_URL").is_none() {
        ensure_redis();
    }

    if backends != Backends::Postgres {
        step("tests on SQLite");
        cargo_test(passthrough, None)?;
    }
    if backends != Backends::Sqlite {
        step("tests on PostgreSQL");
        cargo_test(passthrough, Some(&pg_url))?;
    }
    Ok(())
}

fn step(what: &str) {
    println!("\n==== xtask: {what}");
}

fn cargo_test(passthrough: &[String], pg: Option<&str>) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "--workspace"]);
    if !passthrough.is_empty() {
        cmd.arg("--").args(passthrough);
    }
    match pg {
        Some(url) => cmd.env("TEST_DATABASE_URL", url),
        None => cmd.env_remove("TEST_DATABASE_URL"),
    };
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo test failed ({status})"))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn have_apt() -> bool {
    std::path::Path::new("/usr/bin/apt-get").exists()
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    println!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{program} {} failed ({status})", args.join(" ")))
    }
}

fn ensure_system_packages() -> Result<(), String> {
    let mut missing: Vec<&str> = SYSTEM_PACKAGES
        .iter()
        .filter(|(file, _)| !std::path::Path::new(file).exists())
        .map(|(_, pkg)| *pkg)
        .collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    step(&format!("installing {}", missing.join(" ")));
    if !(is_root() && have_apt()) {
        return Err(format!(
            "the end-to-end tests need Debian packages that are not installed: {}. \
             Install them (sudo apt-get install {}) and run again.",
            missing.join(", "),
            missing.join(" ")
        ));
    }
    run("apt-get", &["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    run("apt-get", &args)
}

fn ensure_python_modules() -> Result<(), String> {
    if PYTHON_MODULES.is_empty() {
        return Ok(());
    }
    let has_pip = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_pip {
        if !(is_root() && have_apt()) {
            return Err("the interop tests need python3 with pip \
                 (sudo apt-get install python3 python3-pip)"
                .into());
        }
        run("apt-get", &["update", "-qq"])?;
        run(
            "apt-get",
            &["install", "-y", "-qq", "python3", "python3-pip"],
        )?;
    }
    let missing: Vec<&(&str, &str)> = PYTHON_MODULES
        .iter()
        .filter(|(module, _)| {
            !Command::new("python3")
                .args(["-c", &format!("import {module}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let specs: Vec<&str> = missing.iter().map(|(_, spec)| *spec).collect();
    step(&format!("installing Python modules {}", specs.join(" ")));
    let mut args = vec![
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ];
    // Debian's own python3 refuses a system-wide pip install unless told it may.
    if std::env::var_os("VIRTUAL_ENV").is_none() && is_debian_python() {
        args.push("--break-system-packages");
    }
    args.extend(&specs);
    run("python3", &args).map_err(|e| {
        format!(
            "{e}: the interop tests need the Python modules {} (python3 -m pip install {})",
            specs.join(", "),
            specs.join(" ")
        )
    })
}

fn is_debian_python() -> bool {
    Command::new("python3")
        .args(["-c", "import sys; print(sys.prefix)"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "/usr")
}

fn answers(addr: &str) -> bool {
    addr.to_socket_addrs().is_ok_and(|mut it| {
        it.any(|a| TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok())
    })
}

fn wait_for(addr: &str) -> bool {
    (0..60).any(|_| {
        if answers(addr) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
        false
    })
}

/// The `host:port` of a postgres:// URL, enough for a liveness check.
fn pg_host_port(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host_port = if host_port == "localhost" || host_port.starts_with("localhost:") {
        host_port.replacen("localhost", "127.0.0.1", 1)
    } else {
        host_port.to_string()
    };
    if host_port.contains(':') {
        host_port
    } else {
        format!("{host_port}:5432")
    }
}

fn ensure_postgres(url: &str) -> Result<(), String> {
    let addr = pg_host_port(url);
    if answers(&addr) {
        return Ok(());
    }
    step(&format!(
        "PostgreSQL does not answer at {addr}; starting the local cluster"
    ));
    let versions = std::fs::read_dir("/etc/postgresql")
        .map_err(|_| {
            format!(
                "PostgreSQL is needed at {addr} for the PostgreSQL run and is not installed here \
                 (apt-get install postgresql, or set TEST_DATABASE_URL to a server that runs)"
            )
        })?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect::<Vec<_>>();
    for v in &versions {
        let _ = run(
            "pg_ctlcluster",
            &["--skip-systemctl-redirect", v, "main", "start"],
        );
    }
    if wait_for(&addr) {
        Ok(())
    } else {
        Err(format!(
            "PostgreSQL did not come up at {addr} (user postgres with trust auth is what the tests use)"
        ))
    }
}

fn ensure_redis() {
    const ADDR: &str = "127.0.0.1:6379";
    if answers(ADDR) || !std::path::Path::new("/usr/bin/redis-server").exists() {
        return;
    }
    step("starting a local redis-server (kept in memory only)");
    let _ = run(
        "redis-server",
        &[
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
    );
    wait_for(ADDR);
}

#[cfg(test)]
mod tests {
    use super::pg_host_port;

    #[test]
    fn the_liveness_address_comes_from_the_url() {
        assert_eq!(pg_host_port(super::DEFAULT_PG), "127.0.0.1:5432");
        assert_eq!(
            pg_host_port("postgres://u:p@db.internal:6543/x?sslmode=disable"),
            "db.internal:6543"
        );
        assert_eq!(pg_host_port("postgresql://localhost/x"), "127.0.0.1:5432");
    }
}
