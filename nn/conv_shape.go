package nn

// ConvShape is the geometry of one convolution as a Device sees it: input
// N×C×H×W, weight O×(C/Groups)×KH×KW, output N×O×Ho×Wo.
type ConvShape struct {
	N, C, H, W                        int
	O, KH, KW                         int
	Stride, Padding, Dilation, Groups int
	Ho, Wo                            int
}

func (gm convGeom) shape() ConvShape {
	return ConvShape{N: gm.N, C: gm.C, H: gm.H, W: gm.W, O: gm.O, KH: gm.KH, KW: gm.KW,
		Stride: gm.S, Padding: gm.P, Dilation: gm.D, Groups: gm.G, Ho: gm.Ho, Wo: gm.Wo}
}
