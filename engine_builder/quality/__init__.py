"""Image quality: a fixed prompt set rendered by the reference pipeline and by what a build made, scored.

``prompts`` (the fixed set),
``metrics`` (PSNR, SSIM, finiteness), ``adherence`` (CLIP score, the scene checker's slot),
``verdict`` (thresholds -> pass/fail, pure), ``render`` (reference and candidate images),
``evaluate`` (one scored report, the step curve) and ``gate`` (what the build does with it).
"""
