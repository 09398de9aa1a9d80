//! The README's two commands, as scripts: what the demo installs, what it
//! prints last, and the test command's closing line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use support::*;

fn script(name: &str) -> std::path::PathBuf {
    workspace().join("fixtures/scripts").join(name)
}

fn plan(purpose: &str) -> Vec<String> {
    let out = Command::new("bash").arg(script("setup.sh")).args([purpose, "--plan"]).output().unwrap();
    assert_success(&out);
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn the_demo_installs_only_what_it_needs_and_the_tests_install_the_rest() {
    let demo = plan("demo");
    assert_eq!(demo, ["postgresql", "util-linux", "cargo"]);
    let tests = plan("tests");
    for only_tests in ["chromium", "mariadb-server", "freetds-bin", "dnsmasq-base", "moto", "python-tds", "SecantusDB"]
    {
        assert!(!demo.contains(&only_tests.to_string()), "the demo installs {only_tests}");
        assert!(tests.contains(&only_tests.to_string()), "the tests do not install {only_tests}: {tests:?}");
    }
    assert!(demo.iter().all(|d| tests.contains(d)), "the tests need what the demo needs");
    let out = Command::new("bash").arg(script("setup.sh")).args(["everything", "--plan"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown purpose 'everything' (demo or tests)"));
}

/// cargo-test.sh against a stand-in `cargo` whose second test binary fails.
#[test]
fn the_test_command_prints_its_closing_line_when_a_test_fails_and_keeps_the_exit_code() {
    let bin = tempfile::tempdir().unwrap();
    let fake = bin.path().join("cargo");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'test result: ok. 7 passed; 0 failed; 0 ignored'\n\
         echo 'test result: FAILED. 3 passed; 2 failed; 0 ignored'\nexit 101\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap());
    let out = Command::new("bash").arg(script("cargo-test.sh")).env("PATH", &path).output().unwrap();
    assert_eq!(out.status.code(), Some(101));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().last(), Some("tests: 10 passed, 2 failed"), "{stdout}");

    // A build that fails before any test ran says so under the line.
    std::fs::write(&fake, "#!/bin/sh\necho 'error[E0425]: cannot find value'\nexit 101\n").unwrap();
    let out = Command::new("bash").arg(script("cargo-test.sh")).env("PATH", &path).output().unwrap();
    assert_eq!(out.status.code(), Some(101));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last: Vec<&str> = stdout.lines().rev().take(2).collect();
    assert_eq!(
        last,
        ["tests: cargo test exited 101 before a test failed (see above)", "tests: 0 passed, 0 failed"],
        "{stdout}"
    );
}

/// The demo, run as the README says, on its own cluster directory and port
/// (with the binary this test suite built): its last lines are the next
/// steps, and they work.
#[test]
fn the_demo_ends_with_the_export_lines_and_next_commands_that_work() {
    let work = tempfile::tempdir().unwrap();
    let is_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if is_root {
        assert!(Command::new("chown").args(["-R", "postgres:"]).arg(work.path()).status().unwrap().success());
    }
    let port = migrate_testkit::free_port().to_string();
    let dir = work.path().join("pg");
    let out_dir = work.path().join("out");
    let demo = Command::new("bash")
        .arg(script("demo.sh"))
        .env("MIGRATE_DEMO_PORT", &port)
        .env("MIGRATE_DEMO_DIR", &dir)
        .env("MIGRATE_DEMO_OUT", &out_dir)
        .env("MIGRATE_BIN", migrate_bin())
        .env_remove("ORG_ID")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8(demo.stdout).unwrap();
    // Stop the cluster before asserting, so a failure leaves nothing running.
    let stop_line = stdout.lines().find_map(|l| l.strip_prefix("Stop the demo's PostgreSQL: ")).map(str::to_string);
    let next: Vec<String> = stdout.lines().rev().take(9).map(str::to_string).collect();
    let url = format!("postgres://migrate_loader@127.0.0.1:{port}/migrate_demo");
    let env = [("ORG_ID", ORG_A.to_string()), ("DATABASE_URL", url.clone())];
    let runs = Command::new(migrate_bin()).args(["runs", "list"]).envs(env.clone()).output().unwrap();
    let verify = Command::new(migrate_bin())
        .args(["report", &out_dir.join("report.json").to_string_lossy(), "--verify"])
        .envs(env)
        .output()
        .unwrap();
    if let Some(stop) = &stop_line {
        Command::new("sh").args(["-c", stop]).output().unwrap();
    }
    assert!(demo.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&demo.stderr));
    let stop = stop_line.expect("the demo says how to stop its PostgreSQL");
    assert!(stop.contains(&format!("-D {}/data stop", dir.display())), "{stop}");
    let shown = migrate_bin();
    let expected = [
        format!("Stop the demo's PostgreSQL: {stop}"),
        format!("  {shown} runs list"),
        format!("  {shown} report {}/report.json --verify", out_dir.display()),
        format!("  {shown} preview fixtures/demo/mapping.toml --rows 5"),
        "then:".to_string(),
        format!("  export DATABASE_URL={url}"),
        format!("  export ORG_ID={ORG_A}"),
        "Next, in this shell (or: source fixtures/scripts/env.sh):".to_string(),
        String::new(),
    ];
    assert_eq!(next, expected, "{stdout}");
    assert_success(&runs);
    assert!(String::from_utf8_lossy(&runs.stdout).contains("succeeded"), "{}", String::from_utf8_lossy(&runs.stdout));
    assert_success(&verify);
}
