"""The institution registry's writers, one module per concept: registry (facts, commissioners, insurance),
classification, codes (一院一码), lists (subtypes, ownership models), imports (the xlsx import)."""
