//! `HMM_DMIRROR_ABI` (its own test binary with one test: it changes the environment).

use hmm_dmirror::{Abi, Device, Error};

#[test]
fn from_env_reads_hmm_dmirror_abi() {
    std::env::remove_var(Abi::ENV_VAR);
    assert_eq!(Abi::from_env().unwrap(), Abi::Patched);
    std::env::set_var(Abi::ENV_VAR, "");
    assert_eq!(Abi::from_env().unwrap(), Abi::Patched);
    std::env::set_var(Abi::ENV_VAR, "mainline");
    assert_eq!(Abi::from_env().unwrap(), Abi::Mainline);
    std::env::set_var(Abi::ENV_VAR, "PATCHED");
    assert_eq!(Abi::from_env().unwrap(), Abi::Patched);

    std::env::set_var(Abi::ENV_VAR, "upstream");
    let err = Abi::from_env().unwrap_err();
    assert!(
        matches!(&err, Error::InvalidAbi { value } if value == "upstream"),
        "{err:?}"
    );
    assert_eq!(err.errno(), None);
    // Device::open consults it before touching the device node.
    let err = Device::open(0).unwrap_err();
    assert!(matches!(err, Error::InvalidAbi { .. }), "{err:?}");
    std::env::remove_var(Abi::ENV_VAR);
}
