"""The Shot panel's pure part: the artist's segment list, a curve and keyed poses turned
into the backend's ``ShotRequest`` (``request``, ``path``, ``keys``); where variations stand
and what they are called (``variations``). No bpy: the glue in ``blender/shot*.py`` reads
Blender and hands plain values here."""
