//! `zcrx-info`: what the running kernel supports for io_uring zero-copy
//! receive, the Linux release each item needs, and whether this process may
//! register ZCRX instances.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use zcrx_examples::cli;
use zcrx_examples::info::Report;

/// What the running kernel supports for io_uring zero-copy receive (ZCRX).
///
/// Asks the kernel with IORING_REGISTER_QUERY (no ring, no privileges
/// needed) and prints each query, the ZCRX registration flags, area flags,
/// features and control operations, the refill ring header, the event
/// types and stats layout, the Linux release that introduced each, and
/// whether this process holds CAP_NET_ADMIN (needed to register).
///
/// With --interfaces it also tries a NIC-mode registration on every rx
/// queue of every interface in this network namespace (or of the ones
/// named: `--interfaces eth1,eth2`), dropped at once, and lists which
/// queues can take ZCRX and why the others cannot (no queue management in
/// the driver, header split off, busy ...). A queue that accepts is
/// restarted twice, briefly interrupting its traffic; needs CAP_NET_ADMIN.
///
/// Exit status: 0 when the report was printed (whatever the kernel lacks),
/// 2 for bad arguments.
#[derive(Parser, Debug)]
#[command(name = "zcrx-info", version, about, long_about)]
struct Args {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,

    /// Probe the rx queues of every interface, or of those named, with a
    /// registration (restarts the queues that accept; needs CAP_NET_ADMIN).
    #[arg(long, value_name = "NAME,...", value_delimiter = ',', num_args = 0..)]
    interfaces: Option<Vec<String>>,
}

fn main() -> ExitCode {
    let args: Args = cli::parse_args();
    let mut report = Report::gather();
    if let Some(names) = &args.interfaces {
        report.probe_interfaces(names);
    }
    let text = if args.json {
        report.to_json()
    } else {
        report.to_table()
    };
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(text.as_bytes())
        .and_then(|()| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|()| out.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        // Whoever reads the report stopped (`zcrx-info | head`): not a
        // failure of the report.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => cli::Failure::new(format!("writing the report: {e}")).report("zcrx-info"),
    }
}
