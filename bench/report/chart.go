package main

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
)

var (
	pathColor = map[string]color.RGBA{
		"direct":     {130, 130, 130, 255},
		"haproxy":    {52, 101, 164, 255},
		"edge-rtmp":  {56, 142, 60, 255},
		"edge-rtmpt": {230, 126, 34, 255},
	}
	pathLabel = map[string]string{"direct": "DIRECT", "haproxy": "HAPROXY", "edge-rtmp": "RTMP-EDGE RTMP", "edge-rtmpt": "RTMP-EDGE RTMPT"}
	ink       = color.RGBA{30, 30, 30, 255}
	faint     = color.RGBA{225, 225, 225, 255}
)

// Chart geometry, in pixels.
const (
	chartW   = 1100
	labelW   = 330
	valueW   = 110
	barH     = 14
	barGap   = 4
	rowGap   = 18
	headerH  = 90
	marginX  = 12
	legendSq = 14
)

// drawChart draws one group of bars per metric, one bar per path, each bar's
// length relative to the largest value of its row, with the value printed.
func drawChart(w io.Writer, r *results) error {
	rowH := len(paths)*(barH+barGap) + rowGap
	rows := r.mainRows()
	h := headerH + len(rows)*rowH + 10
	img := image.NewRGBA(image.Rect(0, 0, chartW, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)

	drawText(img, marginX, 10, "RTMP-EDGE SIDE BY SIDE: BAR = VALUE / LARGEST IN ROW", ink)
	x := marginX
	for _, p := range paths {
		fill(img, x, 40, legendSq, legendSq, pathColor[p])
		drawText(img, x+legendSq+6, 40, pathLabel[p], ink)
		x += legendSq + 6 + textWidth(pathLabel[p]) + 24
	}
	drawText(img, marginX, 64, "(HI) = HIGHER IS BETTER  (LO) = LOWER IS BETTER  N/A = NOT MEASURED", ink)

	barMax := chartW - labelW - valueW - marginX
	y := headerH
	for _, m := range rows {
		info := r.info[m]
		suffix := " (LO)"
		if info.better == "higher" {
			suffix = " (HI)"
		}
		drawText(img, marginX, y, info.short+suffix, ink)
		largest := 0.0
		for _, p := range paths {
			if v, ok := r.get(m, p); ok && v > largest {
				largest = v
			}
		}
		by := y
		for _, p := range paths {
			fill(img, labelW, by, barMax, barH, faint)
			v, ok := r.get(m, p)
			length := 0
			if ok && largest > 0 && v > 0 {
				length = max(1, int(float64(barMax)*v/largest))
			}
			fill(img, labelW, by, length, barH, pathColor[p])
			drawText(img, labelW+barMax+8, by-1, formatValue(v, ok), ink)
			by += barH + barGap
		}
		y += rowH
	}
	return png.Encode(w, img)
}

func fill(img *image.RGBA, x, y, w, h int, c color.Color) {
	draw.Draw(img, image.Rect(x, y, x+w, y+h), image.NewUniform(c), image.Point{}, draw.Src)
}
