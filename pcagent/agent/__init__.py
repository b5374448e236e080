"""The agent: a planner proposes, a grounder locates, the executor acts; the loop records each step."""
