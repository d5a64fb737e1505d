"""The Pacemaker engine: `cib` applies the rendered configuration to a CIB, `crm_mon`
parses the cluster's status (pure), `crm_tools` calls the cluster's tools, `runtime`
moves, starts and stops groups through the cluster (`ClusterAdmin`), `apply_live` applies
to the running cluster, `migrate` hands a running host group between the engines."""
