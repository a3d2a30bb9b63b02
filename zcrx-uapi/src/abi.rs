//! A machine-readable description of every item this crate mirrors.
//!
//! Each struct, field and constant of the crate is listed here with the
//! layout or value the *Rust* definition has (computed by the compiler with
//! [`core::mem::size_of`], [`core::mem::align_of`] and
//! [`core::mem::offset_of!`], never typed by hand) and with the Linux release
//! that introduced it. `cargo xtask check-abi` reads these tables and compares
//! them with what a C compiler reports for the kernel's own uapi headers; other
//! projects that embed this ABI can do the same.
//!
//! The tables are plain `static` data: no allocation, usable from `no_std`.
//!
//! ```
//! use zcrx_uapi::abi::{self, KernelVersion};
//!
//! let rqe = abi::find_struct("io_uring_zcrx_rqe").unwrap();
//! assert_eq!(rqe.size, 16);
//! assert_eq!(rqe.since, KernelVersion::new(6, 15));
//! let nodev = abi::find_const("ZCRX_REG_NODEV").unwrap();
//! assert_eq!(nodev.value, 2);
//! assert_eq!(nodev.since, KernelVersion::new(7, 1));
//! ```

use core::fmt;

/// A Linux release, `major.minor`.
///
/// Ordered, so `since <= running_kernel` tells whether an item exists there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    /// Major number (the `7` of 7.3).
    pub major: u16,
    /// Minor number (the `3` of 7.3).
    pub minor: u16,
}

impl KernelVersion {
    /// Builds a version from its two numbers.
    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor }
    }

    /// Decodes a `LINUX_VERSION_CODE` value (`major << 16 | minor << 8 | patch`).
    pub const fn from_version_code(code: u32) -> Self {
        Self {
            major: (code >> 16) as u16,
            minor: ((code >> 8) & 0xff) as u16,
        }
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The uapi header that declares an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Header {
    /// `linux/io_uring.h`.
    IoUring,
    /// `linux/io_uring/zcrx.h` since Linux 7.1; before 7.1 these items were
    /// part of `linux/io_uring.h` (which includes `zcrx.h` since 7.1).
    Zcrx,
    /// `linux/io_uring/query.h` (Linux 6.18 and later).
    Query,
}

impl Header {
    /// The include path of the header, as the newest kernel spells it.
    pub const fn path(self) -> &'static str {
        match self {
            Header::IoUring => "linux/io_uring.h",
            Header::Zcrx => "linux/io_uring/zcrx.h",
            Header::Query => "linux/io_uring/query.h",
        }
    }
}

/// One field of a mirrored struct, as laid out by the Rust definition.
///
/// Members of a C union (and of anonymous structs inside it) are listed
/// under their header names; they share the Rust field that holds the union.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldInfo {
    /// The header's name for the member (`offsetof(struct s, name)` works in C).
    pub name: &'static str,
    /// The Rust field that holds it (differs from `name` for union members).
    pub rust_field: &'static str,
    /// Byte offset from the start of the struct.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
    /// The Rust type, as written in the definition (`u32`, `[u64; 2]`).
    pub ty: &'static str,
    /// The first Linux release whose header has this member under this name.
    pub since: KernelVersion,
}

/// One mirrored struct, as laid out by the Rust definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StructInfo {
    /// The header's struct tag (`struct io_uring_zcrx_rqe` → `io_uring_zcrx_rqe`).
    pub name: &'static str,
    /// The header that declares it in the newest kernel.
    pub header: Header,
    /// `size_of` of the Rust definition.
    pub size: usize,
    /// `align_of` of the Rust definition.
    pub align: usize,
    /// The first Linux release that has the struct.
    pub since: KernelVersion,
    /// Every member, including union members, in declaration order.
    pub fields: &'static [FieldInfo],
}

impl StructInfo {
    /// Looks a member up by its header name.
    pub fn field(&self, name: &str) -> Option<&'static FieldInfo> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// How the header spells a constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConstKind {
    /// A `#define NAME value`.
    Define,
    /// An enumerator of a (possibly anonymous) C enum.
    Enumerator,
}

/// One mirrored constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConstInfo {
    /// The header's name.
    pub name: &'static str,
    /// The header that declares it in the newest kernel.
    pub header: Header,
    /// `#define` or enumerator.
    pub kind: ConstKind,
    /// The value, widened without loss (sign-extended for signed types).
    pub value: i128,
    /// The Rust type of the constant (`u32`, `u64`, `u8`).
    pub ty: &'static str,
    /// The first Linux release that has it.
    pub since: KernelVersion,
}

/// A header item this crate deliberately does not mirror, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Omitted {
    /// The header's name.
    pub name: &'static str,
    /// The header that declares it.
    pub header: Header,
    /// Why it is not mirrored.
    pub reason: &'static str,
}

/// Every struct the crate mirrors.
pub static STRUCTS: &[StructInfo] = &[
    // io_uring.h
    crate::io_uring::io_uring_sqe::ABI,
    crate::io_uring::io_uring_cqe::ABI,
    crate::io_uring::io_sqring_offsets::ABI,
    crate::io_uring::io_cqring_offsets::ABI,
    crate::io_uring::io_uring_params::ABI,
    crate::io_uring::io_uring_region_desc::ABI,
    crate::io_uring::io_uring_mem_region_reg::ABI,
    crate::io_uring::io_uring_getevents_arg::ABI,
    // zcrx.h
    crate::zcrx::io_uring_zcrx_rqe::ABI,
    crate::zcrx::io_uring_zcrx_cqe::ABI,
    crate::zcrx::io_uring_zcrx_offsets::ABI,
    crate::zcrx::io_uring_zcrx_area_reg::ABI,
    crate::zcrx::zcrx_stats::ABI,
    crate::zcrx::zcrx_event_desc::ABI,
    crate::zcrx::io_uring_zcrx_ifq_reg::ABI,
    crate::zcrx::zcrx_ctrl_flush_rq::ABI,
    crate::zcrx::zcrx_ctrl_export::ABI,
    crate::zcrx::zcrx_ctrl_arm_event::ABI,
    crate::zcrx::zcrx_ctrl_add_area::ABI,
    crate::zcrx::zcrx_ctrl::ABI,
    // query.h
    crate::query::io_uring_query_hdr::ABI,
    crate::query::io_uring_query_opcode::ABI,
    crate::query::io_uring_query_zcrx::ABI,
    crate::query::io_uring_query_zcrx_event::ABI,
    crate::query::io_uring_query_scq::ABI,
];

/// Every constant the crate mirrors.
pub static CONSTANTS: &[&[ConstInfo]] = &[
    crate::io_uring::CONSTANTS,
    crate::zcrx::CONSTANTS,
    crate::query::CONSTANTS,
];

/// Header items deliberately left out, with the reason.
pub static OMITTED: &[Omitted] = &[
    Omitted {
        name: "__ZCRX_CTRL_LAST",
        header: Header::Zcrx,
        reason: "a count of the header's own ops that grows every release; ask the kernel \
                 (io_uring_query_zcrx::nr_ctrl_opcodes) instead",
    },
    Omitted {
        name: "__ZCRX_EVENT_TYPE_LAST",
        header: Header::Zcrx,
        reason: "a count of the header's own event types; ask the kernel \
                 (io_uring_query_zcrx_event::event_flags) instead",
    },
    Omitted {
        name: "__IO_URING_QUERY_MAX",
        header: Header::Query,
        reason: "a count of the header's own query ops; ask the kernel \
                 (io_uring_query_opcode::nr_query_opcodes) instead",
    },
    Omitted {
        name: "LINUX_IO_ZCRX_H",
        header: Header::Zcrx,
        reason: "include guard",
    },
    Omitted {
        name: "LINUX_IO_URING_QUERY_H",
        header: Header::Query,
        reason: "include guard",
    },
];

/// Iterates over every mirrored constant.
pub fn constants() -> impl Iterator<Item = &'static ConstInfo> {
    CONSTANTS.iter().flat_map(|group| group.iter())
}

/// Looks a mirrored struct up by its header name.
pub fn find_struct(name: &str) -> Option<&'static StructInfo> {
    STRUCTS.iter().find(|s| s.name == name)
}

/// Looks a mirrored constant up by its header name.
pub fn find_const(name: &str) -> Option<&'static ConstInfo> {
    constants().find(|c| c.name == name)
}

/// Defines a raw uapi struct together with its [`StructInfo`] and
/// compile-time assertions of its size, alignment and every field offset.
///
/// The expected numbers (`size`, `align`, `offset`) are written by hand from
/// the header; the `ABI` table entry is computed by the compiler from the
/// definition. A mismatch between the two fails the build.
macro_rules! uapi_struct {
    (
        $(#[doc = $doc:literal])*
        #[abi(header = $header:ident, since = ($smaj:literal, $smin:literal), size = $size:literal, align = $align:literal)]
        pub struct $name:ident {
            $(
                $(#[doc = $fdoc:literal])*
                #[abi(offset = $off:literal, since = ($fmaj:literal, $fmin:literal))]
                $(#[alias($aname:ident : $aty:ty, at = $aoff:literal, since = ($amaj:literal, $amin:literal))])*
                pub $field:ident : $fty:ty,
            )*
        }
    ) => {
        $(#[doc = $doc])*
        #[doc = ""]
        #[doc = concat!("*Since Linux ", stringify!($smaj), ".", stringify!($smin), "* (`struct ", stringify!($name), "`, size ", stringify!($size), ", align ", stringify!($align), ").")]
        #[repr(C)]
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        #[cfg_attr(
            feature = "zerocopy",
            derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::KnownLayout, zerocopy::Immutable)
        )]
        pub struct $name {
            $(
                $(#[doc = $fdoc])*
                #[doc = ""]
                #[doc = concat!("*Since Linux ", stringify!($fmaj), ".", stringify!($fmin), "*, offset ", stringify!($off), ".")]
                $(
                    #[doc = ""]
                    #[doc = concat!("Also the header's union member `", stringify!($aname), "` (`", stringify!($aty), "` at byte ", stringify!($aoff), " of this field, since Linux ", stringify!($amaj), ".", stringify!($amin), ").")]
                )*
                pub $field: $fty,
            )*
        }

        const _: () = {
            assert!(core::mem::size_of::<$name>() == $size);
            assert!(core::mem::align_of::<$name>() == $align);
            $(
                assert!(core::mem::offset_of!($name, $field) == $off);
            )*
        };

        impl $name {
            /// The layout and history of this struct, for ABI checks.
            pub const ABI: $crate::abi::StructInfo = $crate::abi::StructInfo {
                name: stringify!($name),
                header: $crate::abi::Header::$header,
                size: core::mem::size_of::<$name>(),
                align: core::mem::align_of::<$name>(),
                since: $crate::abi::KernelVersion::new($smaj, $smin),
                fields: &[
                    $(
                        $crate::abi::FieldInfo {
                            name: stringify!($field),
                            rust_field: stringify!($field),
                            offset: core::mem::offset_of!($name, $field),
                            size: $crate::abi::field_size(|s: &$name| &s.$field),
                            ty: stringify!($fty),
                            since: $crate::abi::KernelVersion::new($fmaj, $fmin),
                        },
                        $(
                            $crate::abi::FieldInfo {
                                name: stringify!($aname),
                                rust_field: stringify!($field),
                                offset: core::mem::offset_of!($name, $field) + $aoff,
                                size: core::mem::size_of::<$aty>(),
                                ty: stringify!($aty),
                                since: $crate::abi::KernelVersion::new($amaj, $amin),
                            },
                        )*
                    )*
                ],
            };
        }
    };
}
pub(crate) use uapi_struct;

/// Defines raw uapi constants with their exact integer type and a
/// [`ConstInfo`] table named `CONSTANTS` for the module.
macro_rules! uapi_consts {
    (
        $(
            $(#[doc = $doc:literal])*
            #[abi(header = $header:ident, kind = $kind:ident, since = ($maj:literal, $min:literal))]
            pub const $name:ident : $ty:ty = $value:expr;
        )*
    ) => {
        $(
            $(#[doc = $doc])*
            #[doc = ""]
            #[doc = concat!("*Since Linux ", stringify!($maj), ".", stringify!($min), "*.")]
            pub const $name: $ty = $value;
        )*

        /// Every constant of this module, for ABI checks.
        pub(crate) static CONSTANTS: &[$crate::abi::ConstInfo] = &[
            $(
                $crate::abi::ConstInfo {
                    name: stringify!($name),
                    header: $crate::abi::Header::$header,
                    kind: $crate::abi::ConstKind::$kind,
                    value: $name as i128,
                    ty: stringify!($ty),
                    since: $crate::abi::KernelVersion::new($maj, $min),
                },
            )*
        ];
    };
}
pub(crate) use uapi_consts;

/// The size of a field, named through an accessor closure (usable in `const`).
#[doc(hidden)]
pub const fn field_size<T, F>(_accessor: fn(&T) -> &F) -> usize {
    core::mem::size_of::<F>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        for (i, s) in STRUCTS.iter().enumerate() {
            assert!(STRUCTS[..i].iter().all(|o| o.name != s.name), "{}", s.name);
            for (j, f) in s.fields.iter().enumerate() {
                assert!(
                    s.fields[..j].iter().all(|o| o.name != f.name),
                    "{}.{}",
                    s.name,
                    f.name
                );
            }
        }
        let all: alloc_free::Names = constants().map(|c| c.name).collect();
        assert!(all.unique());
    }

    #[test]
    fn fields_lie_inside_their_struct_and_are_not_newer_than_it_claims() {
        for s in STRUCTS {
            for f in s.fields {
                assert!(f.offset + f.size <= s.size, "{}.{}", s.name, f.name);
                assert!(
                    f.since >= s.since,
                    "{}.{} is older than its struct",
                    s.name,
                    f.name
                );
            }
        }
    }

    #[test]
    fn lookups_and_versions() {
        let sqe = find_struct("io_uring_sqe").unwrap();
        let idx = sqe.field("zcrx_ifq_idx").unwrap();
        assert_eq!(
            (idx.offset, idx.size, idx.rust_field),
            (44, 4, "file_index")
        );
        assert_eq!(idx.since, KernelVersion::new(6, 15));
        assert_eq!(
            find_const("ZCRX_CTRL_ADD_AREA").unwrap().since,
            KernelVersion::new(7, 3)
        );
        assert_eq!(
            find_const("IORING_ZCRX_AREA_MASK").unwrap().value,
            0xffff_0000_0000_0000
        );
        assert_eq!(
            KernelVersion::from_version_code(0x07_03_04),
            KernelVersion::new(7, 3)
        );
        assert!(KernelVersion::new(6, 19) < KernelVersion::new(7, 0));
        assert!(OMITTED.iter().any(|o| o.name == "__ZCRX_CTRL_LAST"));
    }

    /// A fixed-size set of names, so the check needs no allocation.
    mod alloc_free {
        pub struct Names {
            names: [&'static str; 256],
            len: usize,
        }

        impl FromIterator<&'static str> for Names {
            fn from_iter<I: IntoIterator<Item = &'static str>>(iter: I) -> Self {
                let mut n = Names {
                    names: [""; 256],
                    len: 0,
                };
                for s in iter {
                    n.names[n.len] = s;
                    n.len += 1;
                }
                n
            }
        }

        impl Names {
            pub fn unique(&self) -> bool {
                let v = &self.names[..self.len];
                v.iter()
                    .enumerate()
                    .all(|(i, a)| v[..i].iter().all(|b| a != b))
            }
        }
    }
}
