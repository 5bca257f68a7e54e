package train

import "math"

// logSoftmaxRows returns log softmax(x/temp) of each row of x [n, k].
func logSoftmaxRows(x *T, temp float64) []float64 {
	k := x.Shape[len(x.Shape)-1]
	n := x.Len() / k
	out := make([]float64, x.Len())
	for r := 0; r < n; r++ {
		row := x.D[r*k : (r+1)*k]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v/temp)
		}
		s := 0.0
		for _, v := range row {
			s += math.Exp(v/temp - mx)
		}
		ls := math.Log(s) + mx
		for j, v := range row {
			out[r*k+j] = v/temp - ls
		}
	}
	return out
}

// KD is the distillation loss T²·KL(softmax(teacher/T) ‖ softmax(student/T)), averaged
// over the rows, and its gradient with respect to the student's logits.
func KD(student, teacher *T, temp float64) (float64, *T) {
	k := student.Shape[len(student.Shape)-1]
	n := student.Len() / k
	ls, lt := logSoftmaxRows(student, temp), logSoftmaxRows(teacher, temp)
	g := zerosLike(student)
	loss := 0.0
	for i := range ls {
		pt := math.Exp(lt[i])
		loss += pt * (lt[i] - ls[i])
		g.D[i] = temp * (math.Exp(ls[i]) - pt) / float64(n)
	}
	return temp * temp * loss / float64(n), g
}

// CE is the cross-entropy of the logits with integer labels, averaged over the rows,
// and its gradient.
func CE(logits *T, labels []int64) (float64, *T) {
	k := logits.Shape[len(logits.Shape)-1]
	n := logits.Len() / k
	ls := logSoftmaxRows(logits, 1)
	g := zerosLike(logits)
	loss := 0.0
	for r := 0; r < n; r++ {
		y := int(labels[r])
		loss -= ls[r*k+y]
		for j := 0; j < k; j++ {
			g.D[r*k+j] = math.Exp(ls[r*k+j]) / float64(n)
		}
		g.D[r*k+y] -= 1 / float64(n)
	}
	return loss / float64(n), g
}

// MSE is the mean squared difference of the student's tensor from the teacher's, and its
// gradient with respect to the student's.
func MSE(student, teacher *T) (float64, *T) {
	g := zerosLike(student)
	loss := 0.0
	n := float64(student.Len())
	for i, v := range student.D {
		d := v - teacher.D[i]
		loss += d * d
		g.D[i] = 2 * d / n
	}
	return loss / n, g
}

// scaled returns g·s.
func scaled(g *T, s float64) *T {
	out := zerosLike(g)
	for i, v := range g.D {
		out.D[i] = v * s
	}
	return out
}

// argmax of each row.
func argmax(x *T) []int {
	k := x.Shape[len(x.Shape)-1]
	n := x.Len() / k
	out := make([]int, n)
	for r := 0; r < n; r++ {
		best := 0
		for j := 1; j < k; j++ {
			if x.D[r*k+j] > x.D[r*k+best] {
				best = j
			}
		}
		out[r] = best
	}
	return out
}
