//! Generates the gRPC code from the .proto files with protox (a Rust protobuf compiler), so no
//! `protoc` is needed on the build machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/cloudquery/plugin/v3/plugin.proto",
        "proto/cloudquery/discovery/v0/discovery.proto",
        "proto/cloudquery/discovery/v1/discovery.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
