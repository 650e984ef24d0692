//! `HMM_DMIRROR_ABI` (its own test binary with one test: it changes the environment).

use hmm_dmirror::{Abi, Device, Error};

#[test]
fn hmm_dmirror_abi_asks_for_an_abi_and_is_checked() {
    std::env::remove_var(Abi::ENV_VAR);
    assert_eq!(Abi::from_env_var().unwrap(), None);
    assert_eq!(Abi::from_env().unwrap(), Abi::Patched);
    std::env::set_var(Abi::ENV_VAR, " ");
    assert_eq!(Abi::from_env_var().unwrap(), None);
    std::env::set_var(Abi::ENV_VAR, "mainline");
    assert_eq!(Abi::from_env_var().unwrap(), Some(Abi::Mainline));
    assert_eq!(Abi::from_env().unwrap(), Abi::Mainline);
    std::env::set_var(Abi::ENV_VAR, "PATCHED");
    assert_eq!(Abi::from_env().unwrap(), Abi::Patched);

    std::env::set_var(Abi::ENV_VAR, "upstream");
    let err = Abi::from_env().unwrap_err();
    assert_eq!(err.value, "upstream");
    assert_eq!(
        err.to_string(),
        "invalid HMM_DMIRROR_ABI value \"upstream\": expected \"patched\" or \"mainline\""
    );
    // Device::open consults it before touching the device node.
    let err = Device::open(917).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidAbi { value } if value == "upstream"),
        "{err:?}"
    );
    assert_eq!(err.errno(), None);
    // So does from_fd.
    let fd = std::fs::File::open("/dev/null").unwrap().into();
    assert!(matches!(
        Device::from_fd(fd).unwrap_err(),
        Error::InvalidAbi { .. }
    ));

    // An ABI asked for is checked against the file: /dev/null speaks neither.
    std::env::set_var(Abi::ENV_VAR, "patched");
    let err = Device::open_path_auto("/dev/null").unwrap_err();
    assert!(matches!(err, Error::AbiUnknown { .. }), "{err:?}");
    std::env::remove_var(Abi::ENV_VAR);
}
