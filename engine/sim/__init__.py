"""Call-center simulator: scenarios run through the real routing core and agent store.

``dispatch simulate --scenario FILE`` (see :mod:`engine.cli.simulate`) is the command line;
:func:`simulate` the library entry point; :mod:`engine.sim.erlang` the queueing formulas
the simulator is validated against.
"""

from engine.sim.run import simulate
from engine.sim.scenario import Scenario, ScenarioError, load_scenario, parse_scenario

__all__ = ["Scenario", "ScenarioError", "load_scenario", "parse_scenario", "simulate"]
