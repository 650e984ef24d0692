//! `Numbering` for userspace: parsing, printing, which requests each has.

use hmm_sys::{Numbering, ParseNumberingError, Request};

#[test]
fn parse_and_print() {
    for n in Numbering::ALL {
        assert_eq!(n.to_string().parse::<Numbering>(), Ok(n));
        assert_eq!(n.to_string(), n.name());
    }
    assert_eq!(" MainLine\n".parse::<Numbering>(), Ok(Numbering::Mainline));
    assert_eq!("6.16".parse::<Numbering>(), Err(ParseNumberingError));
    assert_eq!("".parse::<Numbering>(), Err(ParseNumberingError));
    assert_eq!(
        ParseNumberingError.to_string(),
        "expected \"patched\" or \"mainline\""
    );
    assert_eq!(Numbering::ENV_VAR, "HMM_DMIRROR_ABI");
}

#[test]
fn supports_and_request_code() {
    for n in Numbering::ALL {
        for r in Request::ALL {
            assert_eq!(n.request_code(r), n.code(r));
            assert_eq!(n.supports(r), n.code(r).is_some());
            assert_eq!(n.numbering(), n);
        }
    }
    assert!(!Numbering::Mainline.supports(Request::MigrateOnFaultToDev));
    assert!(Numbering::Patched.supports(Request::MigrateOnFaultToDev));
}
