module diffusion-operator.local/tools/pause

go 1.25
