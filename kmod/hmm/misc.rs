// SPDX-License-Identifier: GPL-2.0

//! A misc device registration with driver data attached (C: `container_of(cdev, ...)`).

use kernel::{
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
};

/// A registered misc device `/dev/<name>` whose `open` can reach `data`.
///
/// # Invariants
///
/// This module registers misc devices of type `M` only through this type, so every
/// `MiscDeviceRegistration<M>` that the kernel passes to `M::open` is the `reg` field of a
/// live `MiscWithData<M, D>` (the registration is removed before `data` is dropped:
/// `reg` is declared, hence dropped, first).
#[pin_data]
pub(crate) struct MiscWithData<M: MiscDevice, D> {
    #[pin]
    reg: MiscDeviceRegistration<M>,
    data: D,
}

impl<M: MiscDevice, D> MiscWithData<M, D> {
    /// Registers `/dev/<name>` after `data` is in place.
    pub(crate) fn register(data: D, name: &'static CStr) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            data,
            reg <- MiscDeviceRegistration::register(MiscDeviceOptions { name }),
        })
    }

    /// The data.
    pub(crate) fn data(&self) -> &D {
        &self.data
    }

    /// The data of the device that `reg` registers (for `M::open`).
    pub(crate) fn data_of(reg: &MiscDeviceRegistration<M>) -> &D {
        let field = core::ptr::from_ref(reg);
        // SAFETY: By the type invariant `reg` is the `reg` field of a live `Self`, which
        // outlives the borrow of its field.
        let this = unsafe { &*kernel::container_of!(field, Self, reg) };
        &this.data
    }
}
