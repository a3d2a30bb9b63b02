//! Notifications and stats against the running kernel.
//!
//! Runs on the host (Linux 6.18: no notifications, no `NODEV`) and inside the
//! `cargo xtask vm-test` guests (Linux 7.3, 7.2: `NODEV` instances over
//! loopback TCP; Linux 6.19: no notifications). On kernels without
//! notifications each test checks the documented degradation for its
//! configuration and prints why the rest does not apply; what cannot run
//! here for other reasons (no privileges, no io_uring) is skipped with a
//! printed reason, and `ZCRX_REQUIRE_KERNEL=1` turns every skip into a
//! failure. The data-path tests need `lo` up (the guests bring it up).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use zcrx_notif::support::MISSING_EVENTS;
use zcrx_notif::{
    Delivery, Error, EventSupport, Fallback, NotificationKind, NotificationMask, Notifier,
    NotifyConfig, RearmPolicy, StatsSnapshot, Support, ZcrxBuilderExt,
};
use zcrx_ring::{Area, Receiver, Recv, Ring, Zcrx, ZcrxBuilder};
use zcrx_uapi::zcrx_event_desc;

use NotificationKind::{CopyFallback, NoBuffers};

// --- Skipping ---------------------------------------------------------------

/// Skips the test with a reason (zcrx-testkit: fails instead under
/// `ZCRX_REQUIRE_KERNEL=1`).
macro_rules! skip {
    ($($why:tt)*) => {{
        zcrx_testkit::require!(false, $($why)*);
        return;
    }};
}

// --- The kernel under test -------------------------------------------------

/// `major.minor` of the running kernel.
fn release() -> (u16, u16) {
    let uname = rustix::system::uname();
    let release = uname.release().to_string_lossy().into_owned();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor)
}

/// A ring that registration accepts (`zcrx-ring`'s defaults: 32-byte
/// completions, `DEFER_TASKRUN`, `SINGLE_ISSUER`).
fn new_ring() -> zcrx_ring::Result<Ring> {
    Ring::new(64)
}

/// Why this process cannot register a `NODEV` instance here, if it cannot.
fn cannot_register(support: &Support) -> Option<String> {
    let s = support.available()?; // without notifications: not needed
    if !s.zcrx_caps().is_some_and(|z| z.supports_nodev()) {
        return Some("the kernel answers the event query but lacks ZCRX_REG_NODEV".into());
    }
    if let Err(e) = new_ring() {
        return Some(format!("no io_uring here: {e}"));
    }
    if !rustix::process::geteuid().is_root() {
        return Some("not root: ZCRX registration needs CAP_NET_ADMIN".into());
    }
    None
}

const ENTRIES: u32 = 64;

/// A `NODEV` builder with one area of 64 buffers and 64 refill entries.
fn nodev() -> ZcrxBuilder {
    let area = Area::anonymous(64 * 4096).expect("anonymous area");
    Zcrx::builder_nodev().rq_entries(ENTRIES).area(area)
}

/// Registers `builder` on `ring`, interpreting errors for `cfg`.
fn register(
    builder: ZcrxBuilder,
    ring: &Ring,
    cfg: &NotifyConfig,
    support: &Support,
) -> Result<Zcrx, Error> {
    builder
        .register(ring)
        .map_err(|e| cfg.register_error(support, e))
}

/// The kernel's answer about notifications. On a kernel without them,
/// checks instead what this test's configuration does there, as documented
/// (refused naming what the kernel lacks; or registered without
/// notifications, with an inactive notifier), prints why the rest does not
/// apply, and returns `None`.
fn events<'s>(support: &'s Support, cfg: &NotifyConfig) -> Option<&'s EventSupport> {
    if let Some(s) = support.available() {
        return Some(s);
    }
    let missing = support.error().unwrap();
    let strict = cfg.fallback(Fallback::Require);
    assert_eq!(strict.event_config(support), Err(missing));
    assert_eq!(nodev().notifications(&strict, support).err(), Some(missing));
    let lenient = cfg.fallback(Fallback::ReceiveWithout);
    assert_eq!(lenient.event_config(support), Ok(None));
    let notifier = Notifier::new(&lenient, support);
    assert!(!notifier.is_active());
    assert_eq!(notifier.unavailable(), Some(missing));
    eprintln!(
        "{missing}: checked that this configuration is refused (Fallback::Require) \
         or left out (Fallback::ReceiveWithout); the rest needs notifications"
    );
    None
}

/// Asserts an error names `field` and was found before any system call.
#[track_caller]
fn refused_before_the_kernel(r: Result<impl std::fmt::Debug, Error>, field: &str) {
    match r {
        Err(Error::InvalidConfig { field: f, reason }) => {
            assert_eq!(f, field, "{reason}");
            // The kernel's refusals carry their errno in the reason.
            assert!(
                !reason.contains("EINVAL") && !reason.contains("ERANGE"),
                "{reason}"
            );
        }
        other => panic!("expected {field} to be refused, got {other:?}"),
    }
}

/// Asserts the kernel refused, and the error names `field` and `errno`.
#[track_caller]
fn refused_by_the_kernel(r: Result<Zcrx, Error>, field: &str, errno: &str) {
    match r {
        Err(Error::InvalidConfig { field: f, reason }) => {
            assert_eq!(f, field, "{reason}");
            assert!(reason.contains(errno), "{reason} (expected {errno})");
        }
        Err(other) => panic!("expected {field} refused with {errno}, got {other:?}"),
        Ok(_) => panic!("expected {field} refused with {errno}, but registration succeeded"),
    }
}

// --- Support detection -------------------------------------------------------

#[test]
fn support_detection_reports_what_the_kernel_has() {
    let support = Support::query();
    let v = release();
    eprintln!("Linux {}.{}: {support:?}", v.0, v.1);
    if v < (7, 2) {
        assert_eq!(support, Support::Missing(MISSING_EVENTS));
        let e = support.error().unwrap();
        assert_eq!(
            e.to_string(),
            "kernel lacks IO_URING_QUERY_ZCRX_EVENT (needs Linux >= 7.2)"
        );
        return;
    }
    let s = support.require().expect("Linux 7.2+ has notifications");
    assert!(s.kinds().contains(NotificationMask::all()));
    assert_eq!(s.stats_size(), 16);
    assert_eq!(s.stats_alignment(), 8);
    // The refill header moved to its own cache line in 7.3.
    match v {
        (7, 2) => assert_eq!(s.entries_offset(), Some(64)),
        (7, 3) => assert_eq!(s.entries_offset(), Some(128)),
        _ => assert!(s.entries_offset().is_some()),
    }
}

#[test]
fn without_notifications_the_api_degrades_as_documented() {
    let real = Support::query();
    // On kernels with notifications, degrade against a kernel without.
    let missing = match real {
        Support::Available(_) => Support::Missing(MISSING_EVENTS),
        other => other,
    };
    let strict = NotifyConfig::new(0xfeed).stats(true);
    let e = strict.event_config(&missing).unwrap_err();
    assert_eq!(e, Error::Unsupported(MISSING_EVENTS));
    assert!(nodev().notifications(&strict, &missing).is_err());

    let lenient = strict
        .fallback(Fallback::ReceiveWithout)
        .rearm(RearmPolicy::Immediately);
    assert_eq!(lenient.event_config(&missing), Ok(None));
    let mut notifier = Notifier::new(&lenient, &missing);
    assert!(!notifier.is_active());
    assert_eq!(
        notifier.unavailable(),
        Some(Error::Unsupported(MISSING_EVENTS))
    );
    assert_eq!(notifier.classify(0xfeed, 1, 0), None);

    let builder = nodev().notifications(&lenient, &missing).unwrap();
    if real.is_available() {
        if let Some(why) = cannot_register(&real) {
            skip!("{why}");
        }
        // Registered without notifications: receiving works, no stats.
        let ring = new_ring().unwrap();
        let zcrx = register(builder, &ring, &lenient, &missing).unwrap();
        assert_eq!(StatsSnapshot::read(&zcrx), None);
        assert_eq!(zcrx.region_layout().stats_offset, None);
        assert_eq!(
            notifier.arm(&zcrx, CopyFallback),
            Err(Error::Unsupported(MISSING_EVENTS))
        );
        assert_eq!(
            notifier.arm_mask(&zcrx, NotificationMask::all()),
            Ok(NotificationMask::empty())
        );
        assert_eq!(notifier.service(&zcrx), Ok(NotificationMask::empty()));
    } else {
        // 6.18, 6.19: no NODEV either; zcrx-ring refuses before the kernel.
        let ring = match new_ring() {
            Ok(ring) => ring,
            Err(e) => skip!("no io_uring here: {e}"),
        };
        let e = register(builder, &ring, &lenient, &missing).unwrap_err();
        assert!(e.is_unsupported(), "{e:?}");
        eprintln!("registration without a NIC: {e}");
    }
}

// --- Registration --------------------------------------------------------------

#[test]
fn stats_start_at_zero_and_are_placed_from_the_kernels_sizes() {
    let support = Support::query();
    let cfg = NotifyConfig::stats_only();
    let Some(s) = events(&support, &cfg) else {
        return;
    };
    if let Some(why) = cannot_register(&support) {
        skip!("{why}");
    }
    let entries_end = s.entries_offset().unwrap() + 16 * u64::from(ENTRIES);

    let ring = new_ring().unwrap();
    let builder = nodev().notifications(&cfg, &support).unwrap();
    let zcrx = register(builder, &ring, &cfg, &support).unwrap();
    assert_eq!(zcrx.region_layout().stats_offset, Some(entries_end));
    assert_eq!(StatsSnapshot::read(&zcrx), Some(StatsSnapshot::default()));

    // An explicit offset right after the entries, and one further on.
    for offset in [entries_end, entries_end + 512] {
        let cfg = NotifyConfig::new(1).stats_offset(offset);
        let ring = new_ring().unwrap();
        let builder = nodev().notifications(&cfg, &support).unwrap();
        let zcrx = register(builder, &ring, &cfg, &support).unwrap();
        assert_eq!(zcrx.region_layout().stats_offset, Some(offset));
        assert!(StatsSnapshot::read(&zcrx).unwrap().is_zero());
    }
}

#[test]
fn notifications_without_stats_and_stats_without_notifications() {
    let support = Support::query();
    // Notifications without stats.
    let cfg = NotifyConfig::new(0xfeed).kinds(NotificationMask::COPY_FALLBACK);
    if events(&support, &cfg).is_none() {
        return;
    }
    if let Some(why) = cannot_register(&support) {
        skip!("{why}");
    }
    let ring = new_ring().unwrap();
    let zcrx = register(
        nodev().notifications(&cfg, &support).unwrap(),
        &ring,
        &cfg,
        &support,
    )
    .unwrap();
    assert_eq!(StatsSnapshot::read(&zcrx), None);
    let mut notifier = Notifier::new(&cfg, &support);
    assert!(notifier.is_active());
    assert_eq!(
        notifier.arm(&zcrx, CopyFallback),
        Err(Error::NotFired(CopyFallback))
    );

    // Stats without notifications: nothing to arm in the kernel.
    let cfg = NotifyConfig::stats_only();
    let ring = new_ring().unwrap();
    let zcrx = register(
        nodev().notifications(&cfg, &support).unwrap(),
        &ring,
        &cfg,
        &support,
    )
    .unwrap();
    assert!(StatsSnapshot::read(&zcrx).unwrap().is_zero());
    let mut notifier = Notifier::new(&cfg, &support);
    assert!(notifier.enabled().is_empty());
    assert_eq!(
        notifier.arm(&zcrx, CopyFallback),
        Err(Error::NotEnabled(CopyFallback))
    );
    assert_eq!(
        notifier.arm_unchecked(&zcrx, CopyFallback),
        Err(Error::NotFired(CopyFallback))
    );
}

#[test]
fn bad_configurations_are_refused_before_the_kernel() {
    let support = Support::query();
    let Some(s) = events(&support, &NotifyConfig::new(1).stats(true)) else {
        return;
    };
    let entries = s.entries_offset().unwrap();
    let entries_end = entries + 16 * u64::from(ENTRIES);
    let cannot = cannot_register(&support);

    // Found by the configuration check alone.
    let cases = [
        (
            NotifyConfig::new(1).stats_offset(entries_end + 4),
            "stats_offset",
        ),
        (NotifyConfig::new(1).stats_offset(0), "stats_offset"),
        (
            NotifyConfig::new(1).stats_offset(entries - 8),
            "stats_offset",
        ),
        (
            NotifyConfig::new(1).kinds(NotificationMask::from_bits_retain(1 << 2)),
            "type_mask",
        ),
        (
            NotifyConfig::new(1).kinds(NotificationMask::from_bits_retain(1 << 31)),
            "type_mask",
        ),
    ];
    for (cfg, field) in cases {
        refused_before_the_kernel(nodev().notifications(&cfg, &support), field);
    }
    // Reserved bits of a raw descriptor.
    let flags = zcrx_event_desc {
        flags: 1 << 1,
        ..Default::default()
    };
    refused_before_the_kernel(NotifyConfig::from_desc(&flags), "flags");
    let mut resv = zcrx_event_desc::default();
    resv.__resv2[0] = 1;
    refused_before_the_kernel(NotifyConfig::from_desc(&resv), "__resv2");

    // Found once the entry count and region size are known: by the
    // region plan, which registration runs before its system call.
    let ring_cases = [
        (NotifyConfig::new(1).stats_offset(entries_end - 16), 0),
        (NotifyConfig::new(1).stats_offset(4096), 4096),
        (NotifyConfig::new(1).stats_offset(4096 - 8), 4096),
    ];
    for (cfg, region_size) in ring_cases {
        refused_before_the_kernel(
            cfg.plan_region(&support, ENTRIES, region_size),
            "stats_offset",
        );
        if cannot.is_none() {
            let ring = new_ring().unwrap();
            let builder = nodev()
                .region_size(region_size)
                .notifications(&cfg, &support)
                .unwrap();
            refused_before_the_kernel(register(builder, &ring, &cfg, &support), "stats_offset");
        }
    }

    // An offset computed with Linux 7.2's header (entries at 64).
    let offset_72 = NotifyConfig::new(1).stats_offset(64 + 16 * u64::from(ENTRIES));
    if entries > 64 {
        refused_before_the_kernel(offset_72.plan_region(&support, ENTRIES, 0), "stats_offset");
    } else {
        assert!(offset_72.plan_region(&support, ENTRIES, 0).is_ok());
    }
    if let Some(why) = cannot {
        skip!("registration-time checks not run: {why}");
    }
}

#[test]
fn the_kernels_refusals_are_typed() {
    let support = Support::query();
    let Some(s) = events(&support, &NotifyConfig::new(1).stats(true)) else {
        return;
    };
    if let Some(why) = cannot_register(&support) {
        skip!("{why}");
    }
    let entries = s.entries_offset().unwrap();
    let entries_end = entries + 16 * u64::from(ENTRIES);
    let try_unchecked = |cfg: NotifyConfig, region_size: u64| {
        let ring = new_ring().unwrap();
        let builder = nodev()
            .region_size(region_size)
            .unchecked()
            .events(cfg.raw_event_config());
        register(builder, &ring, &cfg, &support)
    };

    // The 7.2-style offset on 7.3 (ERANGE); on 7.2 it is the right one, so
    // overlap the entries there instead.
    let overlapping = if entries > 64 {
        64 + 16 * u64::from(ENTRIES)
    } else {
        entries_end - 16
    };
    let cfg = NotifyConfig::new(1).stats_offset(overlapping);
    refused_by_the_kernel(try_unchecked(cfg, 0), "stats_offset", "ERANGE");
    // Outside the region.
    let cfg = NotifyConfig::new(1).stats_offset(4096 - 8);
    refused_by_the_kernel(try_unchecked(cfg, 4096), "stats_offset", "ERANGE");
    // Misaligned.
    let cfg = NotifyConfig::new(1).stats_offset(entries_end + 4);
    refused_by_the_kernel(try_unchecked(cfg, 0), "stats_offset", "EINVAL");
    // A kind the kernel does not know.
    let cfg = NotifyConfig::new(1).kinds(NotificationMask::from_bits_retain(1 << 2));
    refused_by_the_kernel(try_unchecked(cfg, 0), "type_mask", "EINVAL");
    // And what the checks accept, the kernel accepts.
    let cfg = NotifyConfig::new(1).stats_offset(entries_end);
    assert!(try_unchecked(cfg, 0).is_ok());
}

#[test]
fn arming_a_kind_that_has_not_fired_is_a_typed_error() {
    let support = Support::query();
    let cfg = NotifyConfig::new(0xfeed).stats(true);
    if events(&support, &cfg).is_none() {
        return;
    }
    if let Some(why) = cannot_register(&support) {
        skip!("{why}");
    }
    let ring = new_ring().unwrap();
    let zcrx = register(
        nodev().notifications(&cfg, &support).unwrap(),
        &ring,
        &cfg,
        &support,
    )
    .unwrap();
    let mut notifier = Notifier::new(&cfg, &support);
    // Locally, without a system call.
    assert_eq!(
        notifier.arm(&zcrx, NoBuffers),
        Err(Error::NotFired(NoBuffers))
    );
    assert_eq!(
        notifier.arm(&zcrx, CopyFallback),
        Err(Error::NotFired(CopyFallback))
    );
    // The kernel agrees: its EINVAL, typed. No-buffers cannot fire without
    // a NIC, so this is as far as it can be armed here.
    assert_eq!(
        notifier.arm_unchecked(&zcrx, NoBuffers),
        Err(Error::NotFired(NoBuffers))
    );
    assert_eq!(
        notifier.arm_unchecked(&zcrx, CopyFallback),
        Err(Error::NotFired(CopyFallback))
    );
    let newer = NotificationKind::Unknown(2);
    assert_eq!(notifier.arm(&zcrx, newer), Err(Error::UnknownKind(newer)));
    assert_eq!(
        notifier.arm_unchecked(&zcrx, newer),
        Err(Error::UnknownKind(newer))
    );
    assert_eq!(
        notifier.arm_mask(&zcrx, NotificationMask::all()),
        Ok(NotificationMask::empty())
    );

    // Only no-buffers enabled: copy-fallback cannot be armed.
    let cfg = NotifyConfig::new(0xfeed).kinds(NotificationMask::NO_BUFFERS);
    let ring = new_ring().unwrap();
    let zcrx = register(
        nodev().notifications(&cfg, &support).unwrap(),
        &ring,
        &cfg,
        &support,
    )
    .unwrap();
    let mut notifier = Notifier::new(&cfg, &support);
    assert_eq!(
        notifier.arm(&zcrx, CopyFallback),
        Err(Error::NotEnabled(CopyFallback))
    );
    assert_eq!(
        notifier.arm(&zcrx, NoBuffers),
        Err(Error::NotFired(NoBuffers))
    );
}

// --- Receiving over loopback TCP ---------------------------------------------------

/// A loopback TCP connection whose receiving end is watched by the
/// receive loop into a `NODEV` instance.
struct Conn<'z> {
    zcrx: &'z Zcrx,
    rx: Receiver<'z>,
    tx: TcpStream,
    /// Stream bytes received so far (for the pattern check).
    received: usize,
}

/// What [`Conn::receive`] saw.
struct Received {
    /// Data bytes received.
    bytes: usize,
    /// Notifications, in arrival order.
    notifications: Vec<NotificationKind>,
}

impl Conn<'_> {
    fn zcrx(&self) -> &Zcrx {
        self.zcrx
    }

    /// Sends `len` more bytes of the stream's pattern.
    fn send(&mut self, from: usize, len: usize) {
        self.tx.write_all(&pattern(from, len)).unwrap();
    }

    /// Runs the receive loop until `bytes` more bytes arrived (checking
    /// them, giving every view back) or `timeout` passed, then once more
    /// without waiting until nothing is ready: notifications are posted as
    /// task work, after the data that caused them. Completions go through
    /// `notifier`; anything that is neither data nor a notification fails
    /// the test.
    fn receive(&mut self, notifier: &mut Notifier, bytes: usize, timeout: Duration) -> Received {
        let deadline = Instant::now() + timeout;
        let mut got = Received {
            bytes: 0,
            notifications: Vec::new(),
        };
        loop {
            let event = if got.bytes < bytes {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                self.rx.recv_timeout(left).unwrap()
            } else {
                self.rx.try_recv().unwrap()
            };
            let Some(event) = event else {
                if got.bytes >= bytes {
                    break;
                }
                continue;
            };
            match notifier.route_event(event) {
                Delivery::Notification(n) => got.notifications.push(n.kind),
                Delivery::Other(Recv::Data { buf, .. }) => {
                    assert_eq!(&buf[..], &pattern(self.received, buf.len())[..]);
                    self.received += buf.len();
                    got.bytes += buf.len();
                }
                Delivery::Other(other) => panic!("unexpected event: {other:?}"),
            }
        }
        got
    }
}

/// Registers `cfg` on a fresh ring, connects over loopback and runs `test`.
fn with_loopback(cfg: &NotifyConfig, support: &Support, test: impl FnOnce(&mut Conn<'_>)) {
    let mut ring = new_ring().unwrap();
    let builder = nodev().notifications(cfg, support).unwrap();
    let zcrx = register(builder, &ring, cfg, support).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").expect("loopback (is lo up?)");
    let tx = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (sock, _) = listener.accept().unwrap();
    let mut rx = Receiver::new(&mut ring);
    rx.add(&zcrx, &sock, None).unwrap();
    let mut conn = Conn {
        zcrx: &zcrx,
        rx,
        tx,
        received: 0,
    };
    test(&mut conn);
    drop(conn);
    drop(sock);
}

/// Pattern of the `n`-th byte of a stream.
fn pattern(from: usize, len: usize) -> Vec<u8> {
    (from..from + len).map(|i| (i % 251) as u8).collect()
}

const CHUNK: usize = 64 * 1024;
const PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn copy_fallback_fires_once_stays_silent_and_fires_again_after_rearm() {
    let support = Support::query();
    let cfg = NotifyConfig::new(0xfeed).kinds(NotificationMask::COPY_FALLBACK);
    if events(&support, &cfg).is_none() {
        return;
    }
    if let Some(why) = cannot_register(&support) {
        skip!("{why}");
    }
    with_loopback(&cfg, &support, |conn| {
        let mut notifier = Notifier::new(&cfg, &support);
        let mut sent = 0;

        conn.send(sent, CHUNK);
        sent += CHUNK;
        let got = conn.receive(&mut notifier, CHUNK, PATIENCE);
        assert_eq!(got.bytes, CHUNK);
        assert_eq!(got.notifications, [CopyFallback]);

        // More data, still copied: silence.
        for _ in 0..4 {
            conn.send(sent, CHUNK);
            sent += CHUNK;
            let got = conn.receive(&mut notifier, CHUNK, PATIENCE);
            assert_eq!(got.bytes, CHUNK);
            assert_eq!(got.notifications, []);
        }

        // Re-armed: it fires again, once.
        notifier.arm(conn.zcrx(), CopyFallback).unwrap();
        assert_eq!(
            notifier.arm(conn.zcrx(), CopyFallback),
            Err(Error::NotFired(CopyFallback))
        );
        conn.send(sent, 2 * CHUNK);
        let got = conn.receive(&mut notifier, 2 * CHUNK, PATIENCE);
        assert_eq!(got.bytes, 2 * CHUNK);
        assert_eq!(got.notifications, [CopyFallback]);
    });
}

#[test]
fn with_only_no_buffers_enabled_no_copy_fallback_arrives() {
    let support = Support::query();
    let cfg = NotifyConfig::new(0xfeed).kinds(NotificationMask::NO_BUFFERS);
    if events(&support, &cfg).is_none() {
        return;
    }
    if let Some(why) = cannot_register(&support) {
        skip!("{why}");
    }
    with_loopback(&cfg, &support, |conn| {
        let mut notifier = Notifier::new(&cfg, &support);
        for i in 0..8 {
            conn.send(i * CHUNK, CHUNK);
            let got = conn.receive(&mut notifier, CHUNK, PATIENCE);
            assert_eq!(got.bytes, CHUNK);
            assert_eq!(got.notifications, []);
        }
        // Nothing fired (no-buffers needs a NIC): nothing to arm, and the
        // kernel agrees.
        assert_eq!(
            notifier.arm(conn.zcrx(), NoBuffers),
            Err(Error::NotFired(NoBuffers))
        );
        assert_eq!(
            notifier.arm_unchecked(conn.zcrx(), NoBuffers),
            Err(Error::NotFired(NoBuffers))
        );
        assert_eq!(
            notifier.arm_unchecked(conn.zcrx(), CopyFallback),
            Err(Error::NotFired(CopyFallback))
        );
    });
}

#[test]
fn stats_count_the_bytes_received() {
    let support = Support::query();
    let cfg = NotifyConfig::stats_only();
    if events(&support, &cfg).is_none() {
        return;
    }
    if let Some(why) = cannot_register(&support) {
        skip!("{why}");
    }
    with_loopback(&cfg, &support, |conn| {
        let mut notifier = Notifier::new(&cfg, &support);
        assert_eq!(
            StatsSnapshot::read(conn.zcrx()),
            Some(StatsSnapshot::default())
        );
        let mut meter = zcrx_notif::StatsMeter::start(conn.zcrx()).unwrap();
        let mut total = 0;
        for len in [1, 4095, 4096, 4097, CHUNK, 4 * CHUNK] {
            conn.send(total, len);
            total += len;
            let got = conn.receive(&mut notifier, len, PATIENCE);
            assert_eq!(got.bytes, len);
            assert_eq!(got.notifications, []);
            let sample = meter.sample(conn.zcrx()).unwrap();
            assert_eq!(sample.delta.copy_bytes, len as u64);
            assert!(sample.delta.copy_count >= 1);
            assert_eq!(sample.snapshot.copy_bytes, total as u64);
        }
    });
}

#[test]
fn notifications_and_stats_together_with_immediate_rearm() {
    let support = Support::query();
    let cfg = NotifyConfig::new(0xfeed)
        .stats(true)
        .rearm(RearmPolicy::Immediately);
    if events(&support, &cfg).is_none() {
        return;
    }
    if let Some(why) = cannot_register(&support) {
        skip!("{why}");
    }
    with_loopback(&cfg, &support, |conn| {
        let mut notifier = Notifier::new(&cfg, &support);
        for i in 0..4 {
            conn.send(i * CHUNK, CHUNK);
            let got = conn.receive(&mut notifier, CHUNK, PATIENCE);
            assert_eq!(got.bytes, CHUNK);
            assert_eq!(got.notifications, [CopyFallback]);
            assert_eq!(
                notifier.service(conn.zcrx()),
                Ok(NotificationMask::COPY_FALLBACK)
            );
        }
        let s = StatsSnapshot::read(conn.zcrx()).unwrap();
        assert_eq!(s.copy_bytes, 4 * CHUNK as u64);
    });
}
