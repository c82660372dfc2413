"""Joint names and parent tables of the skeletons Kinetic-GAN generates (plain data).

The backend builds its graph pyramids on them (``kinetic_gan.skeletons``), the motion
cleanup walks NTU's tree, and the add-on's canonical body names its joints after NTU's.
"""

from __future__ import annotations

# NTU RGB+D 25-joint order (base of spine = 0, spine-shoulder = 20, hand tips/thumbs 21-24).
NTU_JOINTS = (
    "SpineBase", "SpineMid", "Neck", "Head",
    "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight",
    "HipLeft", "KneeLeft", "AnkleLeft", "FootLeft",
    "HipRight", "KneeRight", "AnkleRight", "FootRight",
    "SpineShoulder", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight",
)

# Parent of each NTU joint, rooted at SpineBase (the Kinect's own hierarchy).
NTU_PARENTS = (
    -1, 0, 20, 2,
    20, 4, 5, 6,
    20, 8, 9, 10,
    0, 12, 13, 14,
    0, 16, 17, 18,
    1, 7, 7, 11, 11,
)

# Human3.6M, the 16-joint order of the published code ("Foot" is the ankle there).
H36M_JOINTS = (
    "Hip", "RightHip", "RightKnee", "RightFoot", "LeftHip", "LeftKnee", "LeftFoot",
    "Spine", "Thorax", "Head", "LeftShoulder", "LeftElbow", "LeftWrist",
    "RightShoulder", "RightElbow", "RightWrist",
)
H36M_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 8, 10, 11, 8, 13, 14)
