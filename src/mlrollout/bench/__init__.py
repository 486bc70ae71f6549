"""The statistics benchmark: simulated rollouts with ground truth, and the judges run on them.

Beside ``analysis`` (the production judges) and as pure as it: numpy and scipy, no I/O.
``simulator`` draws canary and baseline windows scrape by scrape with common random
numbers; ``scenarios`` names the regressions; ``oracle`` is the SPRT that knows the truth;
``comparison`` runs every judge on one replicate; ``benchmark`` and ``suite`` aggregate
replicates into rates, times and the README table. ``mlrollout simulate`` drives it.
"""
