"""A few example inputs per task, shown under the app's input boxes: {lang (a language name), <text fields>}.
Hand-written for the news, sentiment and NLI tasks; the SIB-200 ones are FLORES-200 dev sentences (never test)."""

EXAMPLES = {
    "sinhala_news": (
        dict(lang="Sinhala", text="ශ්‍රී ලංකා ක්‍රිකට් කණ්ඩායම අද පැවති තරගයේදී ඉන්දියාවට එරෙහිව කඩුළු හතකින් ජය ගත්තේය."),
        dict(lang="Sinhala", text="ජනාධිපතිවරණය ඔක්තෝබර් මාසයේදී පැවැත්වීමට මැතිවරණ කොමිසම තීරණය කර ඇත."),
        dict(lang="Tamil", text="இலங்கை மத்திய வங்கி வட்டி விகிதங்களை மாற்றமின்றி வைத்திருக்கத் தீர்மானித்துள்ளது."),
        dict(lang="Bengali", text="বিজ্ঞানীরা মঙ্গল গ্রহে পানির নতুন চিহ্ন খুঁজে পেয়েছেন।"),
        dict(lang="Hindi", text="प्रधानमंत्री ने संसद में नए चुनाव सुधार विधेयक पर बहस की घोषणा की।"),
        dict(lang="English", text="The award-winning director's new film opened in cinemas across the country this weekend."),
    ),
    "amazon_reviews": (
        dict(lang="Sinhala", text="මේ ෆෝන් එක හරිම හොඳයි, බැටරිය දවස් දෙකක් පවතිනවා. මම හැමෝටම නිර්දේශ කරනවා!"),
        dict(lang="Tamil", text="மிகவும் மோசமான தயாரிப்பு. இரண்டு நாட்களிலேயே உடைந்துவிட்டது, பணம் வீணானது."),
        dict(lang="Bengali", text="জিনিসটা মোটামুটি ভালো, তবে দামের তুলনায় মান আরও ভালো হতে পারত।"),
        dict(lang="Hindi", text="यह किताब बहुत अच्छी है, मुझे इसे पढ़कर बहुत मज़ा आया।"),
        dict(lang="English", text="The headphones sound fine, but they stopped charging after a month and support never replied."),
    ),
    "xnli": (
        dict(lang="Sinhala", premise="ළමයින් පිටියේ පාපන්දු ක්‍රීඩා කරමින් සිටිති.", hypothesis="ළමයින් එළිමහනේ සෙල්ලම් කරති."),
        dict(lang="Tamil", premise="அவர் ஒவ்வொரு காலையும் பேருந்தில் அலுவலகத்திற்குச் செல்கிறார்.",
             hypothesis="அவருக்குச் சொந்தமாக ஒரு கார் இருக்கிறது."),
        dict(lang="Bengali", premise="দোকানটি রবিবার বন্ধ থাকে।", hypothesis="দোকানটি রবিবার খোলা থাকে।"),
        dict(lang="Hindi", premise="एक आदमी रसोई में खाना बना रहा है।", hypothesis="एक व्यक्ति खाना पका रहा है।"),
        dict(lang="English", premise="The museum was closed for renovation for the whole of last year.",
             hypothesis="Visitors toured the museum last summer."),
    ),
    "sib200": (  # ../shared/benchdata/sib200/dev.jsonl: ids sib200-dev-<lang>-<index_id>
        dict(lang="Sinhala", text="1995 දී ඔහු පාටිසන්හි ඉතිහාසයේ හොඳම ක්‍රීඩකයා ලෙස තේරීපත් විය."),  # 331, sports
        dict(lang="Tamil", text="படங்கள் மற்றும் வீடியோக்களை மாற்றித் திரிப்பதற்கு, இன்றைய காலத்தில் கணினிகள் "
                                "பயன்படுத்தப்படுகின்றன."),  # 610, science/technology
        dict(lang="Bengali", text="মার্কিন রাষ্ট্রপতি জর্জ ডব্লিউ. বুশ এই ঘোষণাকে স্বাগত জানিয়েছেন।"),  # 1075, politics
        dict(lang="Malayalam", text="കേംബ്രിഡ്ജിലെ അഡെൻബ്രൂക്‌സ് ആശുപത്രിയിലേക്ക് പിന്നീട് അദ്ദേഹത്തെ മാറ്റി."),  # 1282, health
        dict(lang="Hindi", text="हालाँकि, शेंगेन ज़ोन इस मामले में कुछ हद तक एक देश की तरह काम करता है."),  # 1855, travel
        dict(lang="English", text="This theory contradicts the claim that the moon is completely devoid of geologic "
                                  "activity."),  # 229, geography
    ),
}
