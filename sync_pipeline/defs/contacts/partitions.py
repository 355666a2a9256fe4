"""One partition per CRM workspace, added as `GET /workspaces` reveals them (the
`contacts_workspaces_sensor`, or `sync-pipeline sync contacts`)."""

import dagster as dg

contacts_workspaces = dg.DynamicPartitionsDefinition(name="contacts_workspaces")
