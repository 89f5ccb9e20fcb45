namespace P2PDistill.Shared.Metrics;

/// <summary>Turns predicted class probabilities and true labels into <see cref="ClassificationMetrics"/>.</summary>
public static class MetricsCalculator
{
    /// <summary>Probabilities below this are clamped before taking the logarithm for NLL.</summary>
    public const double ProbabilityFloor = 1e-12;

    /// <summary>
    /// Computes the metrics of one prediction set.
    /// </summary>
    /// <param name="probabilities">Row-major N x C class probabilities (softmax outputs or their ensemble mean).
    /// The predicted class is the arg-max of a row, the lowest index on ties; NaN never wins, so a row of NaNs
    /// predicts class 0 (and makes NLL NaN).</param>
    /// <param name="numClasses">C, at least 2.</param>
    /// <param name="labels">N true classes in [0, C).</param>
    /// <remarks>
    /// Zero-division follows scikit-learn's <c>zero_division=0</c>: recall of a class with no samples, precision of
    /// a class never predicted, and F1 when precision + recall = 0 are all 0, and macro-F1 averages over all C
    /// classes, including ones absent from <paramref name="labels"/>. With exactly two classes, class 1 is the
    /// positive class: sensitivity = recall of class 1, specificity = recall of class 0, and ROC-AUC ranks p(class 1)
    /// with the Mann–Whitney formula, tied scores taking their average rank (equal to scikit-learn's roc_auc_score).
    /// Each is null when undefined (no positive, resp. no negative sample).
    /// </remarks>
    /// <exception cref="ArgumentException">Empty input, C &lt; 2, or lengths that disagree.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A label outside [0, C).</exception>
    public static ClassificationMetrics Compute(float[] probabilities, int numClasses, int[] labels)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        ArgumentNullException.ThrowIfNull(labels);
        if (numClasses < 2)
            throw new ArgumentException($"numClasses must be at least 2, got {numClasses}.", nameof(numClasses));
        if (labels.Length == 0)
            throw new ArgumentException("labels is empty: there is nothing to score.", nameof(labels));
        if ((long)labels.Length * numClasses != probabilities.Length)
            throw new ArgumentException(
                $"probabilities has {probabilities.Length} values but {labels.Length} labels x {numClasses} classes = {(long)labels.Length * numClasses} were expected.",
                nameof(probabilities));

        int n = labels.Length, c = numClasses;
        var confusion = new int[c][];
        for (var k = 0; k < c; k++) confusion[k] = new int[c];

        var nllSum = 0.0;
        var correct = 0;
        for (var i = 0; i < n; i++)
        {
            var label = labels[i];
            if ((uint)label >= (uint)c)
                throw new ArgumentOutOfRangeException(nameof(labels), label, $"labels[{i}] = {label} is outside [0, {c}).");
            var predicted = ArgMax(probabilities, i * c, c);
            confusion[label][predicted]++;
            if (predicted == label) correct++;
            nllSum -= Math.Log(Math.Max(probabilities[i * c + label], ProbabilityFloor));
        }

        var recall = new double[c];
        var precision = new double[c];
        var f1 = new double[c];
        for (var k = 0; k < c; k++)
        {
            var tp = confusion[k][k];
            var support = confusion[k].Sum();
            var predictedCount = 0;
            for (var t = 0; t < c; t++) predictedCount += confusion[t][k];
            recall[k] = support == 0 ? 0 : (double)tp / support;
            precision[k] = predictedCount == 0 ? 0 : (double)tp / predictedCount;
            var pr = precision[k] + recall[k];
            f1[k] = pr == 0 ? 0 : 2 * precision[k] * recall[k] / pr;
        }

        double? auc = null, sensitivity = null, specificity = null;
        RocCurve? roc = null;
        if (c == 2)
        {
            var positives = confusion[1].Sum();
            var negatives = confusion[0].Sum();
            if (positives > 0) sensitivity = recall[1];
            if (negatives > 0) specificity = recall[0];
            if (positives > 0 && negatives > 0)
            {
                var scores = new float[n];
                for (var i = 0; i < n; i++) scores[i] = probabilities[i * 2 + 1];
                auc = RocAuc(scores, labels);
                roc = Roc(scores, labels);
            }
        }

        return new ClassificationMetrics(
            Accuracy: (double)correct / n,
            MacroF1: f1.Average(),
            PerClassRecall: recall,
            PerClassPrecision: precision,
            PerClassF1: f1,
            ConfusionMatrix: confusion,
            Count: n,
            NumClasses: c,
            Nll: nllSum / n,
            RocAuc: auc,
            Sensitivity: sensitivity,
            Specificity: specificity) { Roc = roc };
    }

    /// <summary>
    /// The ROC curve of <paramref name="scores"/> for binary <paramref name="labels"/>: one point per distinct score, from
    /// (0, 0) to (1, 1), as the threshold falls; tied scores move both rates in one step (the trapezoids give <see cref="RocAuc"/>).
    /// </summary>
    /// <exception cref="ArgumentException">Lengths differ or one class is absent.</exception>
    public static RocCurve Roc(float[] scores, int[] labels)
    {
        if (scores.Length != labels.Length)
            throw new ArgumentException($"scores has {scores.Length} values but labels has {labels.Length}.", nameof(scores));
        long positives = labels.Count(l => l == 1), negatives = labels.Length - positives;
        if (positives == 0 || negatives == 0) throw new ArgumentException("the ROC curve needs both classes among the labels.", nameof(labels));
        var order = Enumerable.Range(0, scores.Length).OrderByDescending(i => scores[i]).ToArray();
        var fpr = new List<double> { 0 };
        var tpr = new List<double> { 0 };
        long tp = 0, fp = 0;
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end < order.Length && scores[order[end]].CompareTo(scores[order[start]]) == 0)
            {
                if (labels[order[end]] == 1) tp++;
                else fp++;
                end++;
            }
            fpr.Add((double)fp / negatives);
            tpr.Add((double)tp / positives);
            start = end;
        }
        return new RocCurve(fpr.ToArray(), tpr.ToArray());
    }

    /// <summary>
    /// Area under the ROC curve of <paramref name="scores"/> for binary <paramref name="labels"/> (1 = positive):
    /// (sum of the positives' ranks - P(P+1)/2) / (P·N), ranks 1-based in ascending score order, ties sharing
    /// their average rank. This is the probability that a random positive outscores a random negative, ties
    /// counting one half.
    /// </summary>
    /// <exception cref="ArgumentException">Lengths differ, a label is not 0 or 1, or one class is absent.</exception>
    public static double RocAuc(float[] scores, int[] labels)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(labels);
        if (scores.Length != labels.Length)
            throw new ArgumentException($"scores has {scores.Length} values but labels has {labels.Length}.", nameof(scores));

        var order = Enumerable.Range(0, scores.Length).ToArray();
        var keys = (float[])scores.Clone();
        Array.Sort(keys, order);

        long positives = 0, negatives = 0;
        var positiveRankSum = 0.0;
        for (var start = 0; start < keys.Length;)
        {
            var end = start + 1;
            while (end < keys.Length && keys[end].CompareTo(keys[start]) == 0) end++;
            var averageRank = (start + 1 + end) / 2.0; // mean of 1-based ranks start+1 .. end
            for (var j = start; j < end; j++)
            {
                var label = labels[order[j]];
                if (label == 1) { positives++; positiveRankSum += averageRank; }
                else if (label == 0) negatives++;
                else throw new ArgumentException($"labels[{order[j]}] = {label}: ROC-AUC needs labels 0 or 1.", nameof(labels));
            }
            start = end;
        }

        if (positives == 0 || negatives == 0)
            throw new ArgumentException("ROC-AUC is undefined unless both classes occur in labels.", nameof(labels));
        return (positiveRankSum - positives * (positives + 1) / 2.0) / (positives * (double)negatives);
    }

    private static int ArgMax(float[] values, int offset, int count)
    {
        var best = 0;
        var bestValue = float.NegativeInfinity;
        for (var k = 0; k < count; k++)
        {
            var v = values[offset + k];
            if (v > bestValue) { bestValue = v; best = k; }
        }
        return best;
    }
}
