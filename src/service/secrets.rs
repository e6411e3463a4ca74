//! Secrets at rest: sealing what was stored in plain text, and re-sealing everything
//! under the current master key (`coupons rotate-master-key`).

use crate::seal::{SealError, Sealer, WEBHOOK_SECRET, service_secret};
use crate::storage::Db;
use crate::storage::secrets::{SecretSlot, replace_secret, stored_secrets};

/// What a secret in `slot` is for, as sealed.
fn purpose(slot: &SecretSlot) -> String {
    match slot {
        SecretSlot::Webhook(_) => WEBHOOK_SECRET.to_owned(),
        SecretSlot::Service(name) => service_secret(name),
    }
}

/// Which stored secrets to seal again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reseal {
    /// Only those stored in plain text (from before sealing): done at every start.
    Plain,
    /// Every one not sealed with the current key: `rotate-master-key`, once every
    /// instance has the new key.
    NotCurrent,
}

/// Seals the stored secrets `which` names with the current key, in one transaction;
/// how many it changed. A value sealed with a key the sealer lacks stops it: nothing
/// is changed then.
pub async fn reseal(db: &Db, sealer: &Sealer, which: Reseal) -> Result<usize, ResealError> {
    db.try_write(async move |mut c| {
        let mut changed = 0;
        for (slot, stored) in stored_secrets(&mut c).await? {
            let plain = !stored.starts_with(crate::seal::PREFIX);
            let due = match which {
                Reseal::Plain => plain,
                Reseal::NotCurrent => !sealer.is_current(&stored),
            };
            if !due {
                continue;
            }
            let purpose = purpose(&slot);
            let secret = sealer.open(&purpose, &stored)?;
            replace_secret(&mut c, &slot, &sealer.seal(&purpose, &secret)).await?;
            changed += 1;
        }
        Ok(changed)
    })
    .await
}

/// Why [`reseal`] changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    /// A stored value does not open with the keys given.
    #[error(transparent)]
    Sealed(#[from] SealError),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}
