"""``dispatch soak``: a bounded run of the whole engine under mixed faults, then an audit.

Pure parts (tested as data): ``options`` (what a run is asked to do, validated),
``schedule`` (which fault when, seeded), ``loopback`` (only loopback services),
``load`` (the pacer that bounds the load, the agent desktops' behaviour), ``report``
(the summary table and its JSON). I/O parts: ``services`` (the run's own local stack or
the loopback one named by the environment), ``replicas`` (the dispatcher child processes),
``faults`` (the injectors), ``traffic`` (the load generator thread on the producer SDK),
``watch`` (the decisions seen, on a thread of their own), ``runner`` (the run from start
to summary). The command line is ``engine.cli.soak``.
"""
