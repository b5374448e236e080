"""Refinement: raw recordings made fit for completion and training (`pcagent trace refine SRC DEST`).

PC Agent's passes, each switchable: drop unusable recordings, drop steps that show pcagent's own windows,
merge press + drag, drop leading waits and stray modifiers, drop clicks and waits that changed nothing on
the screen, force the last action to `finish`, rewrite scrolls to PC Agent-E's vertical form, normalise to a
target resolution, and draw marked screenshots.

    options.py    the passes' names and order, RefineOptions, resolution presets
    passes.py     the passes that edit steps (drop, merge, finish, scroll)
    normalize.py  coordinates and rectangles scaled to a target resolution (the maths in its docstring)
    images.py     pixel comparison, image sizes, re-encoding in a screenshot's own format
    marks.py      draw_marks(image, step, origin): a step's action drawn on its screenshot (also the report's)
    runner.py     refine(src, dest, options): SRC in, DEST written atomically, refine_report.json
"""
