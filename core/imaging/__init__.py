"""Image maths the stages share: training augmentation (warps, colour shifts, flips; `augment`) used by
the swap and mask trainers, and the colour transfers (`colour_transfer`) that training's colour
augmentation and merge's recolouring both register from. Pure functions on arrays, importing no stage."""
