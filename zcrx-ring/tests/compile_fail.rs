//! What safe code must not be able to write: each file in `tests/ui/` must
//! fail to compile, with the error recorded next to it (`*.stderr`, checked
//! by trybuild; regenerate with `TRYBUILD=overwrite` after a compiler
//! update changes the wording).

#[test]
fn safe_code_cannot_forge_duplicate_or_misroute_views() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
