//! `testum audit verify`: walk the audit hash chain (see [`crate::store::audit_chain`]) and say
//! whether it is intact.

use anyhow::bail;

use super::DatabaseArgs;

/// Arguments of `testum audit verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditVerify {
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// The `testum audit` commands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain: exit 0 printing the event count and the head hash when
    /// intact, exit 1 naming the first broken event (seq, id, what differs) otherwise. Record the
    /// head hash elsewhere: a chain cut short at its end is still a valid chain.
    Verify(AuditVerify),
}

impl AuditCommand {
    /// Run the command; `Err` (exit 1) names the first broken event.
    pub async fn run(self) -> anyhow::Result<()> {
        let AuditCommand::Verify(args) = self;
        let store = args.database.open().await?;
        match store.verify_audit_chain().await? {
            Ok(head) => {
                println!(
                    "audit chain intact: {} events, head hash {}",
                    head.count, head.hash
                );
                Ok(())
            }
            Err(broken) => bail!("{broken}"),
        }
    }
}
