"""The sandbox layer: isolated runtime processes, kept warm per function version.

What the Invoker uses (and nothing else):

    backend, warning = ZygoteBackend.for_this_host(network=policy)  # warn loudly, also
                                                          # of backend.network_warning
    pool = SandboxPool(backend, keep_alive_s=600)         # pool.py; reaper: pool.run_once()
    async with pool.acquire(spec) as sandbox:             # spec: SandboxSpec (spec.py)
        outcome = await sandbox.invoke(request)           # InvocationRequest -> InvocationOutcome

Modules: spec (what runs), backend (the Backend / SandboxProcess Protocols), sandbox (one
sandbox's state machine and error classification), pool (warm reuse, keep-alive, scale
to zero), session (the Runtime API state machine), runtime_api (it over HTTP for
`provided.*`), channel (it over a socketpair for lambdalite's Python runtime), zygote and
zygote_backend (the isolating backend), cgroups, netns (namespaces made ahead), network
(the operator's policy, the host's nftables table, DNS), netlink, logbuffer. The code that runs
inside a sandbox is `lambdalite.runtime`. Decisions: docs/decisions/0101, 0102.
"""
