//! Builds the C baseline (`c/*.c`) at -O2 with the `cc` crate.

fn main() {
    let sources = ["consumer.c", "refill.c", "complete.c", "stats.c"];
    let mut build = cc::Build::new();
    build
        .opt_level(2)
        .debug(true)
        .warnings(true)
        .extra_warnings(true)
        .flag_if_supported("-std=gnu11")
        .include("c");
    for src in sources {
        build.file(format!("c/{src}"));
    }
    build.compile("zcrx_bench_c");
    println!("cargo:rerun-if-changed=c");
}
