//! Compiles `junqo/**/*.proto` with protox, a pure-Rust protobuf compiler, so a fresh machine needs no
//! `protoc` to build the workspace.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "junqo/common/v1/errors.proto",
    "junqo/auth/v1/auth.proto",
    "junqo/conversations/v1/conversations.proto",
    "junqo/events/v1/events.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let files: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&root])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
