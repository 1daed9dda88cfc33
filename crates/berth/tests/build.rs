//! `berth build` as a user drives it: Dockerfiles built into images that
//! are then run, the cache observed from the outside (which steps ran), bad
//! Dockerfiles refused with their line numbers, and the result compared
//! with buildah's on the same Dockerfile.

// A test (or example) that meets the unexpected should stop at it.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use testkit::host::{stderr, stdout, Host};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A berth of this test's own (`n` picks its subnets: 100..=149 here).
fn host(n: u8) -> Host {
    Host::new(Path::new(BERTH), n)
}

/// A build context: files (path, contents) and the Dockerfile.
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix("berth-ctx-").tempdir().unwrap();
    for (p, c) in files {
        let path = d.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
    d
}

fn build(h: &Host, ctx: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    let c = ctx.to_str().unwrap();
    args.push(c);
    h.run(&args)
}

fn build_ok(h: &Host, ctx: &Path, extra: &[&str]) -> String {
    let out = build(h, ctx, extra);
    assert!(out.status.success(), "build failed: {}{}", stdout(&out), stderr(&out));
    stderr(&out)
}

/// The number of RUN steps a build executed (each prints DONE, cached ones CACHED).
fn ran(log: &str, marker: &str) -> bool {
    log.lines().any(|l| l.contains(marker) && !l.contains("RUN"))
}

#[test]
fn config_instructions_land_in_the_image_and_the_container() {
    let h = host(100);
    let ctx = context(&[
        ("Dockerfile", "FROM bb\nENV GREETING=hello PATH=/usr/local/bin:/bin\nWORKDIR /srv/app\nRUN echo 'app:x:1234:1234::/srv:/bin/sh' >> /etc/passwd\nUSER app\nLABEL tier=web version=\"1 2\"\nEXPOSE 8080/tcp 53/udp\nSTOPSIGNAL SIGINT\nENTRYPOINT [\"/bin/sh\", \"-c\"]\nCMD [\"echo $GREETING from $(id -un) in $PWD\"]\n"),
    ]);
    build_ok(&h, ctx.path(), &["-t", "cfg:1"]);
    let c = h.inspect("cfg:1")["Config"].clone();
    assert!(c["Env"].as_array().unwrap().iter().any(|e| e == "GREETING=hello"), "{c}");
    assert_eq!(c["WorkingDir"], "/srv/app");
    assert_eq!(c["User"], "app");
    assert_eq!(c["Labels"]["version"], "1 2");
    assert!(c["ExposedPorts"].get("53/udp").is_some(), "{c}");
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(h.ok(&["run", "--rm", "cfg:1"]), "hello from app in /srv/app\n");
}

#[test]
fn copy_sets_owners_and_modes_and_follows_dockerignore() {
    let h = host(101);
    let ctx = context(&[
        ("Dockerfile", "FROM bb\nCOPY --chown=1000:2000 --chmod=0640 secret.conf /etc/app/\nCOPY plain.txt /data/\nCOPY . /ctx/\nCOPY *.md /docs/\nRUN stat -c '%u:%g %a %n' /etc/app/secret.conf /data/plain.txt && stat -c '%a' /tmp\n"),
        ("secret.conf", "s=1\n"),
        ("plain.txt", "p\n"),
        ("README.md", "r\n"),
        ("notes.md", "n\n"),
        ("build/output.o", "junk\n"),
        ("keep/this.txt", "k\n"),
        (".dockerignore", "build\n*.log\n"),
        ("debug.log", "log\n"),
    ]);
    std::fs::set_permissions(ctx.path().join("plain.txt"), std::os::unix::fs::PermissionsExt::from_mode(0o604))
        .unwrap();
    let log = build_ok(&h, ctx.path(), &["-t", "files:1"]);
    assert!(log.contains("1000:2000 640 /etc/app/secret.conf"), "{log}");
    assert!(log.contains("0:0 604 /data/plain.txt"), "{log}");
    let ls = h.ok(&["run", "--rm", "files:1", "sh", "-c", "ls /ctx /docs; stat -c '%a' /tmp"]);
    assert!(ls.contains("keep") && ls.contains("README.md") && ls.contains("notes.md"), "{ls}");
    assert!(!ls.contains("build") && !ls.contains("debug.log"), "ignored files stay out: {ls}");
    assert!(ls.trim_end().ends_with("1777"), "an existing directory keeps its mode: {ls}");
}

#[test]
fn multi_stage_builds_copy_artifacts_and_only_what_the_target_needs() {
    let h = host(102);
    let ctx = context(&[(
        "Dockerfile",
        "FROM bb AS builder\nRUN mkdir /out && echo artifact > /out/app && echo builder-only > /tools\n\
         FROM bb AS unrelated\nRUN echo UNRELATED-STAGE-RAN\n\
         FROM bb\nCOPY --from=builder /out/app /app\nCMD [\"cat\", \"/app\"]\n",
    )]);
    let log = build_ok(&h, ctx.path(), &["-t", "multi:1"]);
    assert!(!log.contains("UNRELATED-STAGE-RAN"), "a stage nobody needs is not built: {log}");
    assert_eq!(h.ok(&["run", "--rm", "multi:1"]), "artifact\n");
    let out = h.run(&["run", "--rm", "multi:1", "ls", "/tools"]);
    assert!(!out.status.success(), "the builder's files are not in the final image");
    // --target builds the named stage (and what it needs) only.
    let log = build_ok(&h, ctx.path(), &["--target", "unrelated", "-t", "unrelated:1"]);
    assert!(log.contains("UNRELATED-STAGE-RAN"), "{log}");
    assert!(!log.contains("[builder"), "{log}");
}

#[test]
fn build_args_heredocs_and_deletions() {
    let h = host(103);
    let ctx = context(&[(
        "Dockerfile",
        "ARG BASE=bb\nFROM ${BASE}\nARG FLAVOUR=plain\nRUN echo \"flavour=$FLAVOUR\" > /flavour\n\
         RUN <<EOF\necho one > /heredoc\necho two >> /heredoc\nEOF\n\
         COPY <<EOF /etc/motd\nwelcome $FLAVOUR\nEOF\n\
         RUN echo temp > /scratch.txt\nRUN rm /scratch.txt\n",
    )]);
    build_ok(&h, ctx.path(), &["-t", "args:1", "--build-arg", "FLAVOUR=spicy"]);
    let out =
        h.ok(&["run", "--rm", "args:1", "sh", "-c", "cat /flavour /heredoc /etc/motd; ls /scratch.txt 2>&1 || true"]);
    assert!(out.starts_with("flavour=spicy\none\ntwo\nwelcome spicy\n"), "{out}");
    assert!(out.contains("No such file"), "a file deleted by a later RUN is gone: {out}");
}

#[test]
fn the_cache_reruns_exactly_what_changed() {
    let h = host(104);
    let ctx = context(&[
        ("Dockerfile", "FROM bb\nCOPY a.txt /a.txt\nRUN echo STEP-ONE-RAN\nCOPY b.txt /b.txt\nRUN echo STEP-TWO-RAN\n"),
        ("a.txt", "a\n"),
        ("b.txt", "b\n"),
    ]);
    let first = build_ok(&h, ctx.path(), &["-t", "cached:1"]);
    assert!(ran(&first, "STEP-ONE-RAN") && ran(&first, "STEP-TWO-RAN"), "{first}");
    let id1 = h.ok(&["images", "-q", "--no-trunc", "cached:1"]);

    // Nothing changed: no RUN executes, the same image comes out.
    let again = build_ok(&h, ctx.path(), &["-t", "cached:2"]);
    assert!(!ran(&again, "STEP-ONE-RAN") && !ran(&again, "STEP-TWO-RAN"), "{again}");
    assert!(again.contains("CACHED"), "{again}");
    assert_eq!(h.ok(&["images", "-q", "--no-trunc", "cached:2"]), id1);

    // b.txt changed: only what follows its COPY runs again.
    std::fs::write(ctx.path().join("b.txt"), "B\n").unwrap();
    let third = build_ok(&h, ctx.path(), &["-t", "cached:3"]);
    assert!(!ran(&third, "STEP-ONE-RAN") && ran(&third, "STEP-TWO-RAN"), "{third}");
    assert_eq!(h.ok(&["run", "--rm", "cached:3", "cat", "/b.txt"]), "B\n");

    // The cache outlives its images: they are removed (and their layers
    // collected) but the cache's leases keep its layers, so the same build
    // is still cached; `system df` counts them.
    for t in ["cached:1", "cached:2", "cached:3"] {
        h.ok(&["rmi", t]);
    }
    let df = h.ok(&["system", "df"]);
    let row: Vec<&str> = df.lines().find(|l| l.starts_with("Build Cache")).unwrap().split_whitespace().collect();
    assert!(row[2].parse::<u32>().unwrap() >= 4 && row[4] != "0B", "{df}");
    let rebuilt = build_ok(&h, ctx.path(), &["-t", "cached:3"]);
    assert!(!ran(&rebuilt, "STEP-ONE-RAN") && !ran(&rebuilt, "STEP-TWO-RAN"), "{rebuilt}");

    // --no-cache runs everything; builder prune forgets the cache.
    let fresh = build_ok(&h, ctx.path(), &["--no-cache", "-t", "cached:4"]);
    assert!(ran(&fresh, "STEP-ONE-RAN"), "{fresh}");
    h.ok(&["builder", "prune", "-f"]);
    let after_prune = build_ok(&h, ctx.path(), &["-t", "cached:5"]);
    assert!(ran(&after_prune, "STEP-ONE-RAN"), "{after_prune}");
}

#[test]
fn contexts_from_stdin_outputs_and_iidfile() {
    let h = host(105);
    let ctx = context(&[
        ("Dockerfile", "FROM bb\nCOPY hello.txt /\nCMD [\"cat\", \"/hello.txt\"]\n"),
        ("hello.txt", "from a tar\n"),
    ]);
    let tar = Command::new("tar").arg("-C").arg(ctx.path()).args(["-cf", "-", "."]).output().unwrap().stdout;
    let mut child = h
        .cmd()
        .args(["build", "-q", "-t", "stdin:1", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &tar).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).trim().starts_with("sha256:"), "-q prints the id: {}", stdout(&out));
    assert_eq!(h.ok(&["run", "--rm", "stdin:1"]), "from a tar\n");

    let d = tempfile::tempdir().unwrap();
    let oci = d.path().join("img.tar");
    let iid = d.path().join("iid");
    build_ok(
        &h,
        ctx.path(),
        &["--output", &format!("type=oci,dest={}", oci.display()), "--iidfile", iid.to_str().unwrap()],
    );
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(id.starts_with("sha256:"), "{id}");
    let skopeo = testkit::ensure_tool("skopeo", "skopeo");
    let inspect =
        Command::new(skopeo).args(["inspect", "--config", &format!("oci-archive:{}", oci.display())]).output().unwrap();
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    assert!(stdout(&inspect).contains("/hello.txt"), "{}", stdout(&inspect));
}

#[test]
fn bad_dockerfiles_are_refused_with_their_line_and_leave_nothing() {
    let h = host(106);
    let cases: &[(&str, &str)] = &[
        ("FROM bb\nRUNN echo hi\n", "Dockerfile:2"),
        ("FROM bb\nRUN <<EOF\necho never closed\n", "Dockerfile:2"),
        ("FROM bb\nCOPY ../outside /x\n", "forbidden path outside the build context"),
        ("FROM bb\nCOPY missing.txt /x\n", "missing.txt"),
        ("FROM bb\nRUN echo visible-output && exit 3\n", "exit code: 3"),
        ("FROM bb\nCOPY --from=nosuchstage /x /y\n", "nosuchstage"),
        ("FROM b AS a\nFROM a AS b\n", "circular"),
        ("RUN echo no from\n", "Dockerfile:1"),
        ("FROM bb\nADD http://example.com/x /x\n", "offline"),
    ];
    for (df, want) in cases {
        let ctx = context(&[("Dockerfile", df)]);
        let out = build(&h, ctx.path(), &["-t", "bad:1"]);
        assert!(!out.status.success(), "{df:?} should fail");
        let err = stderr(&out);
        assert!(err.contains(want), "{df:?}: {err:?} should mention {want:?}");
        if df.contains("visible-output") {
            assert!(err.contains("visible-output"), "the failing RUN's output is shown: {err}");
        }
    }
    // A huge one.
    let ctx = context(&[]);
    std::fs::write(ctx.path().join("Dockerfile"), format!("FROM bb\n# {}\n", "x".repeat(5 << 20))).unwrap();
    let err = stderr(&build(&h, ctx.path(), &[]));
    assert!(err.contains("4 MiB"), "{err}");
    // A binary "Dockerfile".
    let ctx = context(&[]);
    std::fs::write(ctx.path().join("Dockerfile"), [0u8, 159, 146, 150, 0, 1]).unwrap();
    let err = stderr(&build(&h, ctx.path(), &[]));
    assert!(err.contains("not text"), "{err}");
    // Nothing tagged, no container or mount left.
    assert_eq!(h.ok(&["images", "-q", "bad:1"]), "");
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "");
    assert_eq!(testkit::mounts_mentioning(&h.root_str()), Vec::<String>::new());
}

#[test]
fn the_result_matches_buildahs() {
    let h = host(107);
    let buildah = testkit::ensure_tool("buildah", "buildah");
    let ctx = context(&[
        ("Dockerfile", "FROM bb\nENV A=1\nWORKDIR /w\nCOPY f.txt sub/\nRUN echo made > made.txt && rm -f /etc/motd\nUSER nobody\nCMD [\"sh\"]\n"),
        ("f.txt", "f\n"),
    ]);
    build_ok(&h, ctx.path(), &["-t", "ours:1"]);
    // buildah on the same base: our busybox image, through an OCI archive.
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("bb.tar");
    h.ok(&["save", "--format", "oci", "-o", base.to_str().unwrap(), "bb"]);
    let store = d.path().join("storage");
    let run = d.path().join("run");
    let bah = |args: &[&str]| {
        let out = Command::new(&buildah)
            .args(["--root", store.to_str().unwrap(), "--runroot", run.to_str().unwrap(), "--storage-driver", "vfs"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "buildah {args:?}: {}", stderr(&out));
        stdout(&out)
    };
    bah(&["pull", "-q", &format!("oci-archive:{}", base.display())]);
    let base_name = bah(&["images", "-q"]).lines().next().unwrap().to_string();
    let df = std::fs::read_to_string(ctx.path().join("Dockerfile"))
        .unwrap()
        .replace("FROM bb", &format!("FROM {base_name}"));
    std::fs::write(ctx.path().join("Dockerfile.buildah"), df).unwrap();
    bah(&[
        "bud",
        "--isolation",
        "chroot",
        "--layers",
        "-q",
        "-f",
        ctx.path().join("Dockerfile.buildah").to_str().unwrap(),
        "-t",
        "theirs",
        ctx.path().to_str().unwrap(),
    ]);
    let theirs_tar = d.path().join("theirs.tar");
    bah(&["push", "theirs", &format!("docker-archive:{}:theirs:1", theirs_tar.display())]);
    h.ok(&["load", "-i", theirs_tar.to_str().unwrap()]);

    for field in ["Env", "WorkingDir", "User", "Cmd"] {
        let ours = h.inspect("ours:1")["Config"][field].clone();
        let theirs = h.inspect("theirs:1")["Config"][field].clone();
        assert_eq!(ours, theirs, "Config.{field}");
    }
    // buildah leaves /run behind (where it mounts .containerenv): not compared.
    let listing = "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run \\) -prune -o -print | sort | md5sum; cat /w/sub/f.txt /w/made.txt";
    let ours = h.ok(&["run", "--rm", "--network", "none", "-u", "root", "ours:1", "sh", "-c", listing]);
    let theirs = h.ok(&["run", "--rm", "--network", "none", "-u", "root", "theirs:1", "sh", "-c", listing]);
    assert_eq!(ours, theirs, "the same files");
    let _ = Command::new(&buildah)
        .args([
            "--root",
            store.to_str().unwrap(),
            "--runroot",
            run.to_str().unwrap(),
            "--storage-driver",
            "vfs",
            "rmi",
            "-a",
            "-f",
        ])
        .output();
}

#[test]
fn run_mounts_shell_healthcheck_onbuild_and_add_tars() {
    let h = host(108);
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM bb\n\
             RUN --mount=type=cache,target=/cache echo x >> /cache/runs && echo \"cache-runs=$(wc -l < /cache/runs)\"\n\
             RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cp /mnt/data.txt /copied\n\
             RUN --mount=type=tmpfs,target=/scratch touch /scratch/t && echo \"tmpfs=$(stat -f -c %T /scratch)\"\n\
             ADD bundle.tar /unpacked/\n\
             HEALTHCHECK --interval=5s --retries=2 CMD wget -q -O- http://127.0.0.1/ || exit 1\n\
             ONBUILD RUN echo onbuild-ran > /onbuild\n\
             SHELL [\"/bin/echo\", \"shell-was\"]\n\
             RUN from-run\n\
             CMD from-cmd\n\
             SHELL [\"/bin/sh\", \"-c\"]\n",
        ),
        ("data.txt", "bound\n"),
        ("inner/a.txt", "in the tar\n"),
    ]);
    let st = Command::new("tar")
        .arg("-C")
        .arg(ctx.path().join("inner"))
        .args(["-cf", ctx.path().join("bundle.tar").to_str().unwrap(), "a.txt"])
        .status()
        .unwrap();
    assert!(st.success());
    let log = build_ok(&h, ctx.path(), &["-t", "base:1"]);
    assert!(log.contains("cache-runs=1"), "{log}");
    assert!(log.contains("tmpfs=tmpfs"), "{log}");
    assert!(log.contains("shell-was from-run"), "RUN's shell form goes through SHELL: {log}");
    // The cache mount outlives the build (a rerun without the layer cache sees
    // the first run's file) and is not part of the image.
    let log = build_ok(&h, ctx.path(), &["-t", "base:1", "--no-cache"]);
    assert!(log.contains("cache-runs=2"), "{log}");
    let out = h.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        "base:1",
        "-c",
        "cat /copied /unpacked/a.txt; ls /cache 2>&1; ls -A /scratch",
    ]);
    assert!(out.starts_with("bound\nin the tar\n"), "{out}");
    assert!(!out.contains("runs"), "the cache mount's files stay out of the image: {out}");

    let c = h.inspect("base:1")["Config"].clone();
    assert_eq!(c["Cmd"], serde_json::json!(["/bin/echo", "shell-was", "from-cmd"]), "{c}");
    assert_eq!(c["Healthcheck"]["Test"], serde_json::json!(["CMD-SHELL", "wget -q -O- http://127.0.0.1/ || exit 1"]));
    assert_eq!(c["Healthcheck"]["Interval"], 5_000_000_000u64);
    assert_eq!(c["Healthcheck"]["Retries"], 2);
    assert_eq!(c["OnBuild"], serde_json::json!(["RUN echo onbuild-ran > /onbuild"]));

    // A build FROM the image runs its ONBUILD triggers first and does not
    // pass them on.
    let child = context(&[("Dockerfile", "FROM base:1\nRUN [\"cat\", \"/onbuild\"]\n")]);
    let log = build_ok(&h, child.path(), &["-t", "child:1"]);
    assert!(ran(&log, "onbuild-ran"), "{log}");
    let c = h.inspect("child:1")["Config"].clone();
    assert!(c["OnBuild"].is_null() || c["OnBuild"] == serde_json::json!([]), "{c}");
}

#[test]
fn dockerignore_exceptions_inside_excluded_directories_and_user_networks() {
    let h = host(110);
    let ctx = context(&[
        ("Dockerfile", "FROM bb\nCOPY . /ctx/\nRUN cat /etc/hosts > /hosts\n"),
        ("dir/keep.txt", "k\n"),
        ("dir/drop.txt", "d\n"),
        ("dir/sub/deep.log", "l\n"),
        ("a/b/c.log", "l\n"),
        ("top.log", "t\n"),
        ("kept.txt", "k\n"),
        // moby's patternmatcher: a leading `/` is dropped, `**` spans
        // directories, the last matching pattern decides.
        (".dockerignore", "/dir\n!dir/keep.txt\n**/*.log\n!top.log\ntop.log\n"),
    ]);
    h.ok(&["network", "create", "bnet"]);
    build_ok(&h, ctx.path(), &["-t", "ign:1", "--network", "bnet"]);
    let ls = h.ok(&["run", "--rm", "ign:1", "sh", "-c", "cd /ctx && find . -type f | sort"]);
    assert_eq!(ls, "./.dockerignore\n./Dockerfile\n./dir/keep.txt\n./kept.txt\n", "{ls}");
    // The RUN step was on the user network: its address is in its hosts.
    let subnet = h.ok(&["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "bnet"]);
    let prefix: String = subnet.trim().rsplit_once('.').map(|(p, _)| p.to_string()).unwrap_or_default();
    assert!(!prefix.is_empty(), "{subnet}");
    let hosts = h.ok(&["run", "--rm", "ign:1", "cat", "/hosts"]);
    assert!(hosts.contains(&prefix), "{prefix} not in {hosts}");
    // Bad input: a network that is not there.
    let out = build(&h, ctx.path(), &["--network", "nosuchnet"]);
    assert!(!out.status.success() && stderr(&out).contains("nosuchnet"), "{}", stderr(&out));
    h.ok(&["rmi", "ign:1"]);
    h.ok(&["network", "rm", "bnet"]);
}

#[test]
fn add_host_lands_in_the_run_steps_hosts_file() {
    let h = host(111);
    let ctx = context(&[("Dockerfile", "FROM bb\nRUN grep -w db.internal /etc/hosts > /hosts.seen\n")]);
    build_ok(&h, ctx.path(), &["-t", "hosts:1", "--add-host", "db.internal:10.1.2.3"]);
    let seen = h.ok(&["run", "--rm", "hosts:1", "cat", "/hosts.seen"]);
    assert!(seen.starts_with("10.1.2.3") && seen.contains("db.internal"), "{seen}");
    // Another address is another RUN, not the cached one.
    build_ok(&h, ctx.path(), &["-t", "hosts:2", "--add-host", "db.internal:10.1.2.4"]);
    let seen = h.ok(&["run", "--rm", "hosts:2", "cat", "/hosts.seen"]);
    assert!(seen.starts_with("10.1.2.4"), "{seen}");
    // A mapping that is no address is refused, naming it.
    let out = build(&h, ctx.path(), &["--no-cache", "--add-host", "db.internal:nowhere"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("invalid IP address in add-host"), "{}", stderr(&out));
}
