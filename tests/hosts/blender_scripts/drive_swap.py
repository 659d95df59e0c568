"""Runs inside Blender (`blender -b --factory-startup --python drive_swap.py -- config.json`): installs the
add-on zip, builds a VSE scene with the plate as an image-sequence strip, runs the Swap operator, acts as
the event loop for the add-on's timer, then records the strips and renders one frame of the result. With a
"person" in the config it first records the person chooser (before and after the shot is set), picks
that person by id and refreshes the list, so the Swap sends the choice."""

import json
import os
import sys
import time

import bpy

config = json.loads(open(sys.argv[sys.argv.index("--") + 1]).read())
bpy.ops.preferences.addon_install(filepath=config["addon_zip"], overwrite=True)
bpy.ops.preferences.addon_enable(module="facegraft_blender")
import facegraft_blender as addon  # noqa: E402

scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y = config["size"]
scene.render.resolution_percentage = 100
scene.frame_start, scene.frame_end = 1, len(config["frames"])
editor = scene.sequence_editor_create()
files = config["frames"]
plate = addon.strips_of(editor).new_image(name="plate", filepath=files[0], channel=2, frame_start=1)
for path in files[1:]:
    plate.elements.append(os.path.basename(path))
plate.colorspace_settings.name = "Linear"
editor.active_strip = plate
settings = scene.facegraft
settings.model = config["model"]
result = {}
if "person" in config:  # the person chooser: empty without a shot, then the shot's persons as listed
    result["person_items_no_shot"] = [list(item[:2]) for item in addon.person_items(settings)]
settings.shot = config["shot"]
if "person" in config:
    result["person_items"] = [list(item) for item in addon.person_items(settings)]
    result["person_default"] = settings.person
    result["persons_operator"] = list(bpy.ops.facegraft.persons())
    result["persons_status"] = settings.status
    try:  # Blender checks a choice against the items the add-on gives it
        settings.person = "999"
        result["unknown_person"] = settings.person
    except TypeError as exc:
        result["unknown_person"] = f"refused: {exc}"
    settings.person = config["person"]
    result["person_picked"] = settings.person
    bpy.ops.facegraft.persons()  # a refresh keeps the choice while the person is still there
    result["person_after_refresh"] = settings.person
    result["person_args"] = addon.person_args(settings)
settings.output = config["output"]
settings.colour = config.get("colour", "rct")
# The mask choices are the service's: the occlusion modes can be picked; unset, the engine's default shows.
result["mask_choices"] = [item[0] for item in addon.choice_items("mask")]
settings.mask = "occlusion*landmark"
settings.occlusion_mask = "label"
result["mask_picked"] = [settings.mask, settings.occlusion_mask]
settings.property_unset("mask")
settings.property_unset("occlusion_mask")
result["mask_unset"] = [settings.mask, settings.occlusion_mask, settings.is_property_set("mask")]
result["operator"] = list(bpy.ops.facegraft.swap())
deadline = time.time() + config.get("timeout", 600)
while settings.job_id and time.time() < deadline:
    if addon.poll_job() is None:
        break
    time.sleep(addon.POLL_SECONDS)
if bpy.app.timers.is_registered(addon.poll_job):
    bpy.app.timers.unregister(addon.poll_job)
result["status"] = settings.status
result["strips"] = [
    {
        "name": s.name,
        "type": s.type,
        "channel": s.channel,
        "frame_start": s.frame_start,
        "final_start": s.frame_final_start,
        "final_end": s.frame_final_end,
        "blend_type": s.blend_type,
        "mute": s.mute,
        "files": [os.path.join(bpy.path.abspath(s.directory), e.filename) for e in s.elements],
    }
    for s in addon.strips_of(editor)
]
if config.get("render") and result["status"].startswith("swap done"):
    scene.sequencer_colorspace_settings.name = "Linear"
    scene.view_settings.view_transform = "Standard"
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.color_depth = "32"
    scene.render.image_settings.color_mode = "RGBA"
    scene.render.filepath = config["render"]
    scene.frame_set(config.get("render_frame", 1))
    bpy.ops.render.render(write_still=True)
    result["rendered"] = config["render"]
with open(config["result"], "w") as fh:
    json.dump(result, fh)
