//! Records the target triple (`HEARTH_TARGET`) so `hearth update` picks its own binary from a
//! release manifest, and gzips the control UI's files (`ui/`) into `OUT_DIR/ui/<path>.gz`,
//! which `src/gateway/ui.rs` embeds: the binary carries them compressed, as they are served.
use std::io::Write;
use std::path::Path;

fn gzip_tree(src: &Path, out: &Path) {
    for entry in std::fs::read_dir(src).expect("read ui/") {
        let path = entry.expect("ui/ entry").path();
        let dest = out.join(path.file_name().expect("name"));
        if path.is_dir() {
            std::fs::create_dir_all(&dest).expect("create OUT_DIR/ui");
            gzip_tree(&path, &dest);
        } else {
            let body = std::fs::read(&path).expect("read a ui/ file");
            // mtime 0 and no name in the header: the same files give the same bytes.
            let mut e = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::best());
            e.write_all(&body).expect("gzip");
            let gz = e.finish().expect("gzip");
            let mut name = dest.into_os_string();
            name.push(".gz");
            std::fs::write(name, gz).expect("write OUT_DIR/ui");
        }
    }
}

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=HEARTH_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=ui");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("ui");
    std::fs::create_dir_all(&out).expect("create OUT_DIR/ui");
    gzip_tree(Path::new("ui"), &out);
}
