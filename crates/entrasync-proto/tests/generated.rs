//! The checked-in gRPC code is what the `.proto` files generate today: protox (a Rust protobuf
//! compiler, no `protoc` needed) and tonic-prost-build run here, in a test, instead of in a
//! build script that every build of entrasync would compile and run.
//!
//! After editing a `.proto` file: `ENTRASYNC_UPDATE_PROTO=1 cargo test -p entrasync-proto`.

use std::collections::BTreeMap;
use std::path::Path;

const PROTOS: [&str; 3] = [
    "proto/cloudquery/plugin/v3/plugin.proto",
    "proto/cloudquery/discovery/v0/discovery.proto",
    "proto/cloudquery/discovery/v1/discovery.proto",
];

/// File name → contents of every `.rs` file in `dir`.
fn rust_files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn checked_in_code_matches_the_proto_files() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let protos = PROTOS.map(|p| crate_dir.join(p));
    let fds =
        protox::compile(&protos, [crate_dir.join("proto")]).expect("the .proto files compile");
    let out = tempfile::tempdir().unwrap();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .out_dir(out.path())
        .compile_fds(fds)
        .expect("code generation");
    let fresh = rust_files(out.path());
    assert_eq!(
        fresh.len(),
        PROTOS.len(),
        "one file per package: {:?}",
        fresh.keys()
    );
    let checked_in_dir = crate_dir.join("src/generated");
    if std::env::var_os("ENTRASYNC_UPDATE_PROTO").is_some() {
        for (name, text) in &fresh {
            std::fs::write(checked_in_dir.join(name), text).unwrap();
        }
    }
    let checked_in = rust_files(&checked_in_dir);
    for (name, text) in &fresh {
        assert!(
            checked_in.get(name) == Some(text),
            "src/generated/{name} is stale: regenerate it with \
             `ENTRASYNC_UPDATE_PROTO=1 cargo test -p entrasync-proto` and commit it"
        );
    }
    assert_eq!(
        checked_in.keys().collect::<Vec<_>>(),
        fresh.keys().collect::<Vec<_>>(),
        "src/generated/ holds exactly the generated files"
    );
}
