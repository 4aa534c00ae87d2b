"""The store floor: scans, picking, packing, carriers and labels, dispatch, printing, what is urgent."""
