use super::*;

// Vectors computed independently (Python hashlib/base64) from fixed 32-byte inputs.
const ZERO_TO_31: &str = "hpk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const ZERO_TO_31_SHA256: &str = "4db106c6fc94ab117222bcbd6e663bbbe4b6daa496f82680fe7e90767d2a4147";
const ALL_FF: &str = "hpk___________________________________________8";
const ALL_FF_SHA256: &str = "5037a598bfe9990123abcd8d88b06326330c5ba47ba705336bbc929d2115a029";

#[test]
fn hash_matches_fixed_vectors() {
    assert_eq!(
        RawApiKey::parse(ZERO_TO_31).unwrap().hash(),
        ZERO_TO_31_SHA256
    );
    assert_eq!(RawApiKey::parse(ALL_FF).unwrap().hash(), ALL_FF_SHA256);
}

#[test]
fn mask_keeps_prefix_and_four_characters() {
    let masked = RawApiKey::parse(ZERO_TO_31).unwrap().masked();
    assert_eq!(masked, format!("hpk_AAEC{}", "*".repeat(39)));
    assert_eq!(masked.len(), 47);
}

#[test]
fn generated_keys_have_the_format_and_differ() {
    let a = RawApiKey::generate();
    let b = RawApiKey::generate();
    assert_eq!(a.expose().len(), LEN);
    assert!(a.expose().starts_with("hpk_"));
    assert!(RawApiKey::parse(a.expose()).is_some());
    assert_ne!(a.expose(), b.expose());
}

#[test]
fn parse_rejects_everything_else() {
    let body = &ZERO_TO_31[4..];
    for bad in [
        "",
        "hpk_",
        body,
        &format!("hpx_{body}"),
        &format!("HPK_{body}"),
        &ZERO_TO_31[..46],
        &format!("{ZERO_TO_31}A"),
        &format!("hpk_{}+", &body[..42]),
        &format!("hpk_{}=", &body[..42]),
        &format!("hpk_{}é", &body[..41]),
    ] {
        assert!(RawApiKey::parse(bad).is_none(), "{bad:?} should not parse");
    }
}

#[test]
fn debug_never_shows_the_secret() {
    let key = RawApiKey::parse(ZERO_TO_31).unwrap();
    let shown = format!("{key:?}");
    assert!(!shown.contains(&ZERO_TO_31[8..]), "{shown}");
}

/// Drops a key in place and reads back the memory it occupied: the wipe must have run.
#[test]
fn a_dropped_key_leaves_no_copy_where_it_was() {
    let mut slot = std::mem::MaybeUninit::new(RawApiKey::parse(ZERO_TO_31).unwrap());
    // SAFETY: `slot` holds a key until `drop_in_place`, which runs once; its storage lives on
    // until `slot` goes out of scope, and a dropped key's bytes are still plain initialised
    // `u8`s, so reading them back is sound.
    unsafe {
        let bytes = &raw const (*slot.as_ptr()).0;
        assert_eq!(&std::ptr::read_volatile(bytes), ZERO_TO_31.as_bytes());
        std::ptr::drop_in_place(slot.as_mut_ptr());
        assert_eq!(std::ptr::read_volatile(bytes), [0; LEN]);
    }
}

#[test]
fn generating_a_key_leaves_no_copy_of_it_in_freed_memory() {
    let mut body = [0u8; LEN - PREFIX.len()];
    let freed = crate::secret::wipe::freed_during(|| {
        let key = RawApiKey::generate();
        body.copy_from_slice(&key.expose().as_bytes()[PREFIX.len()..]);
    });
    assert!(!crate::secret::wipe::contains(&freed, &body));
}
