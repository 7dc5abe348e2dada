//! `testum audit verify`: walk the audit chain (see [`crate::store::audit_chain`]) and say whether
//! it is intact, how many events of each rule it checked, and where it broke.

use anyhow::bail;

use super::{DatabaseArgs, MasterKeyArgs};
use crate::audit_key::{self, RecordState};

/// Arguments of `testum audit verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditVerify {
    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub key: MasterKeyArgs,
}

/// The `testum audit` commands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's chain. Exit 0 printing how many events of each rule (`sha256`:
    /// written before the chain was keyed; `hmac-sha256`: keyed) were checked and the head hash
    /// when intact; exit 1 naming the first broken event (seq, id, what differs) otherwise.
    /// Keyed events need the master key (TESTUM_MASTER_KEY, TESTUM_MASTER_KEY_FILE or the data
    /// dir's master.key): without it their order and links are checked but not their MACs, and
    /// the command exits 1 saying how many went unchecked. Record the head hash elsewhere: a
    /// chain cut short at its end is still a valid chain.
    Verify(AuditVerify),
}

impl AuditCommand {
    /// Run the command; `Err` (exit 1) names the first broken event, or the keyed events left
    /// unchecked for want of the master key.
    pub async fn run(self) -> anyhow::Result<()> {
        let AuditCommand::Verify(args) = self;
        let store = args.database.open().await?;
        let master_key = args.key.load(&args.database.data_dir)?;
        let record = audit_key::find(&store, master_key.as_ref()).await?;
        let head = match store.verify_audit_chain(record.keying()).await? {
            Ok(head) => head,
            Err(broken) => bail!("{broken}"),
        };
        let unkeyed = head.count - head.keyed;
        if head.unchecked > 0 {
            bail!(
                "audit chain NOT fully checked: {} events in order and linked, {unkeyed} sha256 \
                 hashes checked, but the MACs of {} hmac-sha256 events were not: no master key \
                 (set TESTUM_MASTER_KEY or TESTUM_MASTER_KEY_FILE, or run where {} exists)",
                head.count,
                head.unchecked,
                args.key.source(&args.database.data_dir)
            );
        }
        let keying = match &record {
            RecordState::Opened(record) => format!("keyed from seq {}", record.keyed_from),
            RecordState::Unopened => "key record not opened".to_string(),
            RecordState::Absent => "not keyed yet: plain SHA-256 hashes prove nothing against \
                                    someone who can write the database; expected only before \
                                    the first start of a testum that keys the chain"
                .to_string(),
        };
        println!(
            "audit chain intact: {} events ({unkeyed} sha256, {} hmac-sha256; {keying}), head \
             hash {}",
            head.count, head.keyed, head.hash
        );
        Ok(())
    }
}
